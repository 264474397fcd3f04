"""The demo's mailbox: a local SMTP server (aiosmtpd) that keeps what the demo sends.

``make run`` points the handoff service's mail at it, so a CSR's answer to a ticket really
goes out over SMTP and lands here instead of in a stranger's inbox: each mail is written to
``var/mail/`` as an ``.eml`` file (any mail client opens it) and announced on the console
with its resume link, which opens the conversation in the demo store's widget.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path
from typing import Iterator

from aiosmtpd.controller import Controller

_LINK = re.compile(r"https?://\S+#resume=\S+")
_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class _KeepMail:
    """aiosmtpd handler: write each mail to ``folder`` and print a line about it."""

    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        to = _UNSAFE.sub("_", ",".join(envelope.rcpt_tos))[:80]
        path = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}-{to}.eml"
        path.write_bytes(envelope.original_content)
        body = message.get_body(preferencelist=("plain",))
        link = _LINK.search(body.get_content()) if body is not None else None
        print(
            f"[mail] to {', '.join(envelope.rcpt_tos)}: {message['Subject']}  ({path})"
            + (f"\n       resume link: {link.group(0)}" if link else ""),
            flush=True,
        )
        return "250 Message accepted for delivery"


@contextmanager
def demo_mailbox(folder: Path, port: int) -> Iterator[Controller]:
    """A local SMTP server on 127.0.0.1:``port`` keeping mail in ``folder`` for the block."""
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(_KeepMail(folder), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
