"""Canned responses read from the bot project's YAML files."""

from __future__ import annotations

from handoff.core.canned import load_canned_responses
from handoff.core.settings import REPO_ROOT


def write_project(root):
    (root / "data" / "responses").mkdir(parents=True)
    (root / "domain.yml").write_text(
        'version: "3.1"\nresponses:\n  utter_greet:\n    - text: "Hi!"\n    - text: "Hello!"\n'
        '  utter_help:\n    - text: "Pick one"\n      buttons:\n'
        "        - {title: Track, payload: /order_status}\n"
        '  utter_image:\n    - image: "https://x/y.png"\n'
    )
    (root / "data" / "responses" / "faq.yml").write_text(
        'responses:\n  utter_faq/shipping_times:\n    - text: "3-5 days"\n'
    )
    (root / "data" / "responses" / "broken.yml").write_text("responses: [unclosed\n")


def test_reads_domain_and_response_files(tmp_path):
    write_project(tmp_path)
    entries = load_canned_responses(tmp_path)
    assert [(e["name"], e["text"], e["category"], e["source"]) for e in entries] == [
        ("utter_greet", "Hi!", "bot", "domain.yml"),
        ("utter_greet", "Hello!", "bot", "domain.yml"),
        ("utter_help", "Pick one", "bot", "domain.yml"),
        ("utter_faq/shipping_times", "3-5 days", "faq", "data/responses/faq.yml"),
    ]
    assert entries[2]["buttons"] == [{"title": "Track", "payload": "/order_status"}]


def test_missing_files_mean_no_entries(tmp_path):
    assert load_canned_responses(tmp_path) == []
    assert load_canned_responses(tmp_path / "nowhere") == []


def test_the_real_project_parses():
    # The bot's files are written by others; only check that reading them works.
    assert isinstance(load_canned_responses(REPO_ROOT), list)
