"""A real SMTP server for the tests (aiosmtpd, in a thread of its own) and what it received.

The mail the product sends goes over a real socket to :class:`SmtpServer`, which parses each
message as a mail client would; tests wait for it with :meth:`SmtpServer.wait_for` (sync:
browser tests) or :meth:`SmtpServer.received` (async, with ``tests.support.waiting.eventually``).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Callable, Iterator, List, Optional

from aiosmtpd.controller import Controller

from tests.support.redis_server import free_port
from tests.support.waiting import wait_until

# The key of the stack's inbound email webhook (POST /api/inbound/email?key=...).
INBOUND_SECRET = "test-inbound-email-secret-0123456789"


@dataclass(frozen=True)
class Received:
    """One mail as the server got it: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: List[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        """The plain-text body."""
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


class _Handler:
    """aiosmtpd handler keeping every mail; ``refuse`` maps a recipient to an SMTP answer."""

    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.server.refuse.get(address.lower())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.server.lock:
            self.server.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message)
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1; :meth:`start` and :meth:`stop` may be called again.

    Args:
        port: The port (default: a free one).
    """

    def __init__(self, port: Optional[int] = None):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.messages: List[Received] = []
        self.refuse: dict = {}
        self.lock = threading.Lock()
        self._controller: Optional[Controller] = None

    def start(self) -> "SmtpServer":
        """Listen (returns once the server answers)."""
        if self._controller is None:
            self._controller = Controller(
                _Handler(self), hostname=self.host, port=self.port, ready_timeout=10
            )
            self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening (the port stays this server's for a later :meth:`start`)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def clear(self) -> None:
        """Forget what was received and every refusal."""
        with self.lock:
            self.messages.clear()
        self.refuse.clear()

    def received(self, predicate: Callable[[Received], bool] = lambda m: True) -> List[Received]:
        """The mails received so far that match ``predicate``."""
        with self.lock:
            return [m for m in self.messages if predicate(m)]

    async def areceived(
        self, predicate: Callable[[Received], bool] = lambda m: True
    ) -> List[Received]:
        """:meth:`received` for ``eventually``."""
        return self.received(predicate)

    def wait_for(
        self, predicate: Callable[[Received], bool] = lambda m: True, timeout: float = 20.0
    ) -> Received:
        """The first received mail matching ``predicate``, waiting up to ``timeout`` (sync)."""
        found = wait_until(
            lambda: self.received(predicate), timeout=timeout, what="a matching mail"
        )
        return found[0]


@contextmanager
def running_smtp(port: Optional[int] = None) -> Iterator[SmtpServer]:
    """An SMTP server for the block."""
    server = SmtpServer(port).start()
    try:
        yield server
    finally:
        server.stop()
