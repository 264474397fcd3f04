"""make run's demo mailbox: a real SMTP server that keeps each mail as a file and says so."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from bot.devtools.mailbox import demo_mailbox
from tests.support.redis_server import free_port
from tests.support.waiting import wait_until

LINK = "http://127.0.0.1:5080/demo#resume=eyJhbGciOiJIUzI1NiJ9.e30.c2ln"


def test_a_mail_is_kept_as_an_eml_file_and_its_resume_link_printed(tmp_path, capsys):
    port = free_port()
    message = EmailMessage()
    message["From"] = "support@shop.example"
    message["To"] = "sam@example.com"
    message["Subject"] = "Re: [T-1001] Where is my parcel?"
    message.set_content(f"Your parcel arrives tomorrow.\n\nBack to the chat: {LINK}\n")
    with demo_mailbox(tmp_path / "mail", port):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
        files = wait_until(lambda: list((tmp_path / "mail").glob("*.eml")), what="the .eml")
    assert len(files) == 1 and "sam@example.com" in files[0].name
    assert b"Your parcel arrives tomorrow." in files[0].read_bytes()
    printed = capsys.readouterr().out
    assert "[mail] to sam@example.com: Re: [T-1001] Where is my parcel?" in printed
    assert f"resume link: {LINK}" in printed
