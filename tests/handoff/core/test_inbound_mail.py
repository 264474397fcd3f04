"""Reading providers' inbound-parse posts and finding what the customer actually wrote."""

from __future__ import annotations

import json

import pytest

from handoff.core.errors import InvalidInput
from handoff.core.inbound_mail import clean_reply, html_to_text, parse_form, strip_quoted

REPLY = """Thanks, that helps!
Can you send it to my office instead?

On Tue, 1 Dec 2026 at 10:00, Harbor & Pine Support <support+T-1042-abc@shop.example>
wrote:
> Hello,
>
> It left our warehouse today.
"""


def test_sendgrid_fields():
    mail = parse_form(
        {
            "from": ["Ann Example <Ann@Example.com>"],
            "to": ["Support <support+T-1042-abc@shop.example>"],
            "cc": ["boss@example.com"],
            "subject": ["Re: [T-1042] Where is my parcel?"],
            "text": [REPLY],
            "html": ["<p>ignored when text is there</p>"],
            "envelope": [json.dumps({"to": ["support+T-1042-abc@shop.example"], "from": "a@b.c"})],
            "headers": ["Received: by mx\nSubject: Re: [T-1042]\n"],
        }
    )
    assert mail.sender == "Ann@Example.com"
    assert mail.recipients == ["support+T-1042-abc@shop.example", "boss@example.com"]
    assert mail.subject == "Re: [T-1042] Where is my parcel?"
    assert mail.stripped is None and not mail.automatic
    assert mail.reply == "Thanks, that helps!\nCan you send it to my office instead?"


def test_mailgun_fields_prefer_the_providers_stripped_text():
    mail = parse_form(
        {
            "sender": "ann@example.com",
            "from": "Ann <ann@example.com>",
            "recipient": "support+T-1042-abc@shop.example",
            "subject": "Re: [T-1042] Where is my parcel?",
            "body-plain": REPLY,
            "stripped-text": "Thanks, that helps!",
            "message-headers": json.dumps([["Auto-Submitted", "no"]]),
        }
    )
    assert mail.sender == "ann@example.com"
    assert mail.recipients == ["support+T-1042-abc@shop.example"]
    assert mail.reply == "Thanks, that helps!"
    assert not mail.automatic


def test_out_of_office_answers_are_recognised():
    sendgrid = parse_form({"from": "a@b.c", "headers": "Auto-Submitted: auto-replied\n"})
    mailgun = parse_form(
        {"sender": "a@b.c", "message-headers": json.dumps([["Auto-Submitted", "auto-replied"]])}
    )
    assert sendgrid.automatic and mailgun.automatic


def test_html_only_mail_is_read_as_text():
    mail = parse_form(
        {
            "from": "a@b.c",
            "html": "<div>Yes please<br>Ann</div><blockquote>old</blockquote><style>p{}</style>",
        }
    )
    assert mail.reply == "Yes please\nAnn"
    assert html_to_text("a &amp; b") == "a & b"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("New\n> quoted\nmore", "New\nmore"),
        ("Top\n-----Original Message-----\nFrom: x", "Top"),
        ("Top\n-- \nAnn, sent from my phone", "Top"),
        ("Top\nOn Mon, Ann <a@b.c> wrote:\nquoted", "Top"),
        ("On my way home I saw it.\nThanks", "On my way home I saw it.\nThanks"),
        ("Line\r\nnext", "Line\nnext"),
    ],
)
def test_quoted_text_is_stripped(text, expected):
    assert strip_quoted(text) == expected


def test_clean_reply_repairs_what_mail_may_carry():
    assert clean_reply("Hi\x0cthere\x00", 100) == "Hi there"
    assert clean_reply("x" * 50, 10) == "xxxxxxxx …"
    with pytest.raises(InvalidInput):
        clean_reply("  \n ", 100)
