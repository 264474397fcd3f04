"""The admin page in headless Chromium against the real stack: review, label, FAQ, training, models.

Screenshots of every step go to ``test-artifacts/browser/<test>/``;
``UPDATE_DOC_SCREENSHOTS=1`` also refreshes ``docs/screenshots/admin-*.png``.
"""

from __future__ import annotations

import re

import pytest

from bot.devtools.stack import DEMO_PASSWORD
from tests.support.browser import (
    broken_images_settled,
    expect,
    open_console_tab,
    publish_screenshot,
    staff_log_in,
)
from tests.support.clients import Csr, Customer, call

pytestmark = pytest.mark.model

# Customer messages about deliveries that the model may be unsure about (disjoint from the
# end-to-end test's); the fixture picks two the running model is not certain about (the test
# moves the slider to 1.00: everything below certainty), since the NLU data keeps growing.
POOL = [
    "the postman never came",
    "the courier missed me",
    "the parcel went walkabout",
    "a fox ate my parcel",
    "the postman left a card but no parcel",
    "my neighbour took my parcel",
    "the delivery man was rude",
    "my letterbox is too small for the parcel",
    "the parcel got soaked in the rain",
    "the courier left it with a neighbour i don't know",
    "the delivery driver threw my parcel",
    "my order came in a squashed box",
]
SLIDER = 1.0
HOSTILE = 'the driver never came <img src=x onerror="window.__pwned=1">'


def log_in(page, stack, username: str) -> None:
    staff_log_in(page, stack, "/admin", username)


@pytest.fixture(scope="module")
def logged_chats(stack):
    """Conversations through the running bot, so the review list has something to show.

    Returns the two messages the review should list: the first sent twice (spacing aside, one
    item with a count of 2), the second after a message that tries to inject markup.
    """
    unsure = [text for text in POOL if confidence(stack, text) < SLIDER][:2]
    assert len(unsure) == 2, [(text, confidence(stack, text)) for text in POOL]
    Customer(stack, sender="admin-page-0").say(unsure[0].replace(" ", "  ", 1))
    Customer(stack, sender="admin-page-1").say(unsure[0])
    hostile = Customer(stack, sender="admin-page-2")
    hostile.say(HOSTILE)
    hostile.say(unsure[1])
    return unsure


def review_item(page, text: str):
    """The review item whose message is ``text`` (another item's context may quote it)."""
    words = r"\s+".join(re.escape(word) for word in text.split())
    exactly = re.compile(rf"^\s*{words}\s*$")
    return page.locator(".r-item").filter(has=page.locator(".r-text", has_text=exactly))


def confidence(stack, text: str) -> float:
    """The running model's best real intent confidence (0 when it falls back)."""
    status, body = call(
        "POST", f"{stack.rasa_url}/model/parse?token={stack.rasa_token}", {"text": text}
    )
    assert status == 200, body
    return 0.0 if body["intent"]["name"] == "nlu_fallback" else body["intent"]["confidence"]


def test_admin_reviews_and_labels_logged_messages(browser, stack, shots, logged_chats):
    asked_twice, after_markup = logged_chats
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    try:
        # A CSR cannot use the page.
        log_in(page, stack, "alice")
        expect(page.locator("#login-error")).to_have_text(
            "This page is for admins. CSRs work in the support console."
        )

        log_in(page, stack, "admin")
        expect(page.locator("#me")).to_have_text("Store admin · admin")
        expect(page.locator("#running-model")).to_contain_text("Running: storefront-")

        # The slider widens the list to everything the bot was not certain about.
        page.locator("#threshold").fill("1")
        expect(page.locator("#threshold-value")).to_have_text("1.00")
        expect(page.locator("#review-list")).to_have_attribute("data-query", "threshold=1")
        item = review_item(page, asked_twice).first
        expect(item).to_be_visible(timeout=15_000)
        # The same question twice (spacing aside) is one item with its count.
        expect(item.locator(".r-count")).to_have_text("×2")
        expect(item.locator(".r-intent")).to_be_visible()
        item.get_by_role("button", name="Show context").click()
        expect(item.locator(".r-context")).to_contain_text("Customer:")
        expect(item.locator(".r-context")).to_contain_text("Bot:")

        # Customer text is text: the markup in the context shows as typed and never runs.
        missed = review_item(page, after_markup).first
        missed.get_by_role("button", name="Show context").click()
        expect(missed.locator(".r-context")).to_contain_text(HOSTILE)
        assert page.locator(".review-list img").count() == 0
        broken_images_settled(page)  # an onerror handler would have fired by now
        assert page.evaluate("window.__pwned") is None
        shot = shots("review-list", page)
        publish_screenshot(shot, "admin-review.png")

        # Filters: nobody rated these chats badly; "any reason" brings them back.
        page.locator("#reason-filter").select_option("low_csat")
        expect(review_item(page, asked_twice)).to_have_count(0)
        page.locator("#reason-filter").select_option("")
        expect(review_item(page, asked_twice)).to_have_count(1)

        # One click: label it as an order status question.
        item = review_item(page, asked_twice).first
        item.locator(".intent-pick").select_option("order_status")
        item.get_by_role("button", name="Use intent").click()
        expect(item.locator(".r-status")).to_have_text(
            "Labelled order_status — used in the next training."
        )
        shots("labelled", page)
        # Out of scope, with the other one.
        missed.get_by_role("button", name="Out of scope").click()
        expect(missed.locator(".r-status")).to_contain_text("out of scope")
        # Reloaded, the decided items are gone from the list.
        page.get_by_role("button", name="Refresh").click()
        expect(review_item(page, asked_twice)).to_have_count(0)
        expect(review_item(page, after_markup)).to_have_count(0)
        # ... and the labelled text is in the project's reviewed NLU data.
        project = stack.extra_env["HANDOFF_PROJECT_DIR"]
        with open(f"{project}/data/nlu/reviewed.yml", encoding="utf-8") as reviewed:
            data = reviewed.read()
        assert f"- {asked_twice}" in data and f"- {after_markup}" in data
    finally:
        context.close()


def test_admin_adds_a_faq_and_sees_training_and_models(browser, stack, shots):
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    try:
        log_in(page, stack, "admin")
        page.get_by_role("tab", name="New FAQ").click()
        page.get_by_label("Topic (lower case, words joined by _)").fill("Gift Wrapping")
        page.get_by_label("Customer questions (one per line, at least two)").fill(
            "do you gift wrap?\ncan you wrap my order as a present"
        )
        page.get_by_label("The bot's answer").fill("Yes: tick “gift wrap” at checkout. It's free.")
        page.get_by_role("button", name="Add FAQ").click()
        expect(page.locator("#faq-error")).to_contain_text("snake_case")
        page.get_by_label("Topic (lower case, words joined by _)").fill("gift_wrapping")
        page.get_by_role("button", name="Add FAQ").click()
        expect(page.locator("#faq-done")).to_contain_text("Added faq/gift_wrapping with 2 examples")
        shots("faq-added", page)

        # The new topic can be picked when labelling.
        page.get_by_role("tab", name="Review").click()
        page.get_by_role("button", name="Refresh").click()
        expect(page.locator("#intent-filter option[value='faq/gift_wrapping']")).to_have_count(1)

        page.get_by_role("tab", name="Training").click()
        expect(page.get_by_role("button", name="Start training")).to_be_visible()
        if page.locator("#comparison").is_visible():  # the end-to-end test trained before us
            expect(page.locator("#verdict")).not_to_be_empty()
            expect(page.locator(".cmp-set[data-set='test_set'] .cmp-metrics")).to_contain_text(
                "Macro-F1"
            )
            shot = shots("training-comparison", page, full_page=True)
            publish_screenshot(shot, "admin-training.png")

        # A training shows its epochs live and can be cancelled; the running model stays.
        running = page.locator("#running-model").inner_text()
        page.get_by_role("button", name="Start training").click()
        expect(page.locator("#job-pill")).to_contain_text("Training")
        expect(page.locator("#progress-text")).to_contain_text("epoch", timeout=240_000)
        shot = shots("training-progress", page)
        publish_screenshot(shot, "admin-training-progress.png")
        page.get_by_role("button", name="Cancel").click()
        expect(page.locator("#progress-text")).to_have_text(
            "Cancelled: the running model is untouched.", timeout=60_000
        )
        expect(page.get_by_role("button", name="Start training")).to_be_enabled()

        page.get_by_role("tab", name="Models").click()
        active = page.locator("#models-body tr", has_text="Active")
        expect(active).to_have_count(1)
        expect(page.locator("#running-model")).to_have_text(running)
        expect(page.locator("#running-model")).to_contain_text(
            active.locator("td").first.inner_text()
        )
        shot = shots("models", page)
        publish_screenshot(shot, "admin-models.png")

        # A model activated elsewhere (CLI, another admin) shows once the page is back in view.
        with page.expect_response(lambda r: r.url.endswith("/api/admin/models")) as models:
            page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        assert models.value.status == 200
    finally:
        context.close()


def test_an_admin_turns_a_csr_answer_into_a_faq_from_the_console(browser, stack, shots):
    Customer(stack, sender="admin-console-faq").say("I want to talk to a real person")
    admin = Csr(stack.handoff_url, "admin", DEMO_PASSWORD)
    status, body = admin.post("/conversations/admin-console-faq/claim")
    assert status == 200, body
    answer = "Yes: our drivers assemble beds and wardrobes on delivery for a flat fee of $49."
    status, body = admin.post("/conversations/admin-console-faq/messages", {"text": answer})
    assert status == 201, body

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    try:
        staff_log_in(page, stack, "/console", "admin")
        expect(page.locator("#live")).to_have_text("Live", timeout=15_000)
        open_console_tab(page, "admin-console-faq")
        csr_line = page.locator(".t-msg.t-csr", has_text=answer)
        expect(csr_line).to_be_visible(timeout=15_000)
        csr_line.get_by_role("button", name="Make FAQ").click()
        dialog = page.locator("dialog.faq-make")
        expect(dialog).to_be_visible()
        assert dialog.locator("#faqm-answer").input_value() == answer
        assert (
            dialog.locator("#faqm-examples")
            .input_value()
            .startswith("I want to talk to a real person")
        )
        dialog.locator("#faqm-topic").fill("assembly_service")
        dialog.locator("#faqm-examples").fill(
            "can your drivers put my bed frame together\ndo you assemble wardrobes on delivery"
        )
        shots("console-make-faq", page)
        dialog.get_by_role("button", name="Add FAQ").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#toast")).to_contain_text("Added faq/assembly_service")
    finally:
        context.close()
