"""A customer attaches a photo in the widget; the CSR sees its name and saves it from the console.

Real browsers, real stack (the ``stack`` fixture). Screenshots go to
``test-artifacts/browser/<test>/``.
"""

from __future__ import annotations

import pytest

from tests.support.browser import broken_images_settled, expect, staff_log_in

pytestmark = pytest.mark.model

WAIT_MS = 45_000  # a bot turn runs NLU, the action server and the order store
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">.png'


def test_a_photo_goes_from_the_widget_to_the_console_and_back_as_a_file(
    browser, stack, shots, tmp_path
):
    photo = tmp_path / HOSTILE_NAME.replace("/", "_")
    photo.write_bytes(PNG)
    page_file = tmp_path / "order.png"
    page_file.write_bytes(b"<!doctype html><script>window.__pwned=1</script>")

    customer_context = browser.new_context(viewport={"width": 1280, "height": 860})
    csr_context = browser.new_context(viewport={"width": 1440, "height": 900})
    shop, console = customer_context.new_page(), csr_context.new_page()
    try:
        shop.goto(f"{stack.handoff_url}/demo")
        shop.locator(".launcher").click()
        box = shop.locator(".composer textarea")
        box.fill("I want to talk to a real person")
        box.press("Enter")
        expect(shop.locator('.msg[data-sender="bot"][data-id]').last).to_contain_text(
            "queue", timeout=WAIT_MS
        )

        # An HTML page called .png is refused, with the server's reason.
        shop.locator(".file-input").set_input_files(str(page_file))
        expect(shop.locator(".notice")).to_contain_text("PDF", timeout=15_000)
        expect(shop.locator(".msg--file")).to_have_count(0)

        # The photo: the customer sees their own upload, its name as text.
        shop.locator(".file-input").set_input_files(str(photo))
        sent = shop.locator(".msg--file .file-name")
        expect(sent).to_have_text(photo.name, timeout=15_000)
        expect(shop.locator(".notice")).to_be_empty()
        shots("customer-sent-a-photo", shop)

        staff_log_in(console, stack, "/console", "alice")
        expect(console.locator("#live")).to_have_text("Live", timeout=15_000)
        conv_id = shop.evaluate("""() => {
            const key = Object.keys(localStorage).find(k => k.startsWith('harbor-chat:'));
            return JSON.parse(localStorage.getItem(key)).conversationId;
        }""")
        item = console.locator(f'.q-item[data-id="{conv_id}"]')
        expect(item).to_be_visible(timeout=15_000)
        item.locator(".claim-btn").click()
        panel = console.locator(".panel:not([hidden])")
        line = panel.locator(".transcript .t-customer .t-file")
        expect(line.locator(".file-name")).to_have_text(photo.name, timeout=15_000)
        expect(panel.locator(".files .file-name")).to_have_text(photo.name)
        shots("csr-sees-the-file", console)

        # The CSR saves it: the bytes the customer sent, under its display name.
        with console.expect_download() as saved:
            line.get_by_role("button", name=f"Download {photo.name}").click()
        # (the browser may swap characters a file system refuses: `<>"` and the like)
        assert saved.value.suggested_filename.endswith(".png")
        assert open(saved.value.path(), "rb").read() == PNG

        # So can the customer, from their own bubble.
        with shop.expect_download() as own:
            shop.locator(".msg--file .file").click()
        assert open(own.value.path(), "rb").read() == PNG

        # The hostile name stayed text everywhere.
        assert shop.locator(".log img").count() == 0
        assert console.locator(".transcript img, .files img").count() == 0
        broken_images_settled(shop)
        broken_images_settled(console)
        assert shop.evaluate("window.__pwned") is None
        assert console.evaluate("window.__pwned") is None
    finally:
        customer_context.close()
        csr_context.close()
