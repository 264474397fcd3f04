"""Sending the mail outbox over SMTP, once per mail however many service instances run.

Every instance of the handoff service with email on runs one :class:`MailDeliverer`.
They read ``handoff:mail_outbox`` as one Redis consumer group, so each mail goes to one
of them. A mail is sent with aiosmtplib and then deleted. When sending fails:

* connection problems, timeouts and 4xx answers are temporary: the mail waits in
  ``handoff:mail_retry`` and is tried again after ``retry_base_seconds``, doubled for
  every further attempt up to ``retry_max_seconds``, ``max_attempts`` times in all;
* a 5xx answer is permanent, and a mail out of attempts is too: it is kept in
  ``handoff:mail_failed`` with the reason, and logged (without the address).

A mail read by an instance that died before finishing is taken over by another after
``claim_idle_seconds`` (XAUTOCLAIM). Delivery is at least once: an instance that dies
between the server's "250 OK" and deleting the mail sends that mail twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Callable, Optional, Tuple

import aiosmtplib
from redis.exceptions import ResponseError

from handoff.core.mail import MailOutbox, OutgoingEmail, Queued
from handoff.core.settings import EmailSettings

logger = logging.getLogger(__name__)

BATCH = 10


def classify(exc: BaseException) -> Tuple[bool, str]:
    """Whether a sending failure is worth retrying, and a reason to keep.

    Returns:
        ``(temporary, reason)``: temporary for connection errors, timeouts and 4xx
        answers; permanent for 5xx answers and anything else SMTP refused.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        reason = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return bool(codes) and all(400 <= c < 500 for c in codes), f"recipient refused: {reason}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 400 <= exc.code < 500, f"{exc.code} {exc.message}"
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError)):
        return True, f"timeout: {exc}"
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError)):
        return True, f"connection failed: {exc}"
    if isinstance(exc, aiosmtplib.SMTPException):
        return False, f"{type(exc).__name__}: {exc}"
    return False, f"{type(exc).__name__}: {exc}"


class MailDeliverer:
    """Sends what the mail outbox holds; one per service instance.

    Args:
        outbox: The mail queue.
        settings: The ``email:`` settings (server, TLS, login, attempts, backoff).
        consumer: This instance's name in the consumer group (default host, pid, random).
        poll_seconds: Longest wait for a new mail before due retries and abandoned
            mails are looked at again.
        claim_idle_seconds: A mail read by another consumer and unfinished for this long
            is taken over (default: three SMTP timeouts, at least a minute).
        clock: Returns the current epoch time (retries are scheduled with it).
    """

    def __init__(
        self,
        outbox: MailOutbox,
        settings: EmailSettings,
        *,
        consumer: Optional[str] = None,
        poll_seconds: float = 1.0,
        claim_idle_seconds: Optional[float] = None,
        clock: Callable[[], float] = time.time,
    ):
        """Create a deliverer; nothing runs before :meth:`start`."""
        self.outbox = outbox
        self.settings = settings
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.poll_seconds = poll_seconds
        self.claim_idle_seconds = (
            claim_idle_seconds
            if claim_idle_seconds is not None
            else max(60.0, 3 * settings.smtp_timeout_seconds)
        )
        self._clock = clock
        self._task: Optional[asyncio.Task] = None
        self._stopping = asyncio.Event()

    # ---- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start sending in the background (the consumer group is made on the first pass)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"mail-{self.consumer}")

    async def stop(self) -> None:
        """Stop sending after the current pass (a blocking read ends within one poll).

        Cancelling a Redis command in flight can leave its connection waiting for a reply
        that was already read, and the next command on it hangs: the loop is asked to stop
        instead, and cancelled only if it does not within a pass's longest time (an SMTP
        timeout). A mail cut short then is finished by another instance (or the next start).
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        grace = self.poll_seconds + self.settings.smtp_timeout_seconds + 5
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except asyncio.TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._stopping.clear()

    async def _run(self) -> None:
        grouped = False
        while not self._stopping.is_set():
            try:
                if not grouped:
                    await self.outbox.ensure_group()
                    grouped = True
                await self.run_once(block_ms=await self._block_ms())
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                # NOGROUP: the stream or its group was deleted (e.g. Redis flushed): make it again.
                grouped = grouped and "NOGROUP" not in str(exc)
                logger.error("mail delivery: Redis refused: %s; retrying", exc)
                await asyncio.sleep(self.poll_seconds)
            except Exception:  # noqa: BLE001 - Redis down: keep trying, never die
                logger.exception("mail delivery: could not read the mail outbox; retrying")
                await asyncio.sleep(self.poll_seconds)

    async def _block_ms(self) -> int:
        """Wait for new mail at most until the next retry is due (and one poll at most)."""
        wait = self.poll_seconds
        due = await self.outbox.next_retry_at()
        if due is not None:
            wait = min(wait, max(0.0, due - self._clock()))
        return max(1, int(wait * 1000))

    async def run_once(self, *, block_ms: int = 0) -> int:
        """One pass: due retries back into the outbox, abandoned mails, then new mails.

        Returns:
            How many mails were handled (sent, rescheduled or given up on).
        """
        await self.outbox.move_due(self._clock())
        entries = await self.outbox.reclaim(
            self.consumer, min_idle_ms=int(self.claim_idle_seconds * 1000), count=BATCH
        )
        if not entries:
            entries = await self.outbox.read(self.consumer, count=BATCH, block_ms=block_ms)
        for entry in entries:
            await self.deliver(entry)
        return len(entries)

    # ---- one mail -------------------------------------------------------------------------

    async def deliver(self, entry: Queued) -> str:
        """Send one queued mail and record the outcome: ``sent``, ``retry`` or ``failed``."""
        entry_id, email, attempts, _last_error = entry
        attempts += 1
        try:
            await self.send(email)
        except Exception as exc:  # noqa: BLE001 - every failure is classified and kept
            temporary, reason = classify(exc)
            if temporary and attempts < self.settings.max_attempts:
                delay = self.backoff(attempts)
                await self.outbox.retry_later(
                    entry_id, email, attempts, reason, self._clock() + delay
                )
                logger.warning(
                    "mail for ticket %s: attempt %d failed (%s); next in %.0f s",
                    email.ticket_id,
                    attempts,
                    reason,
                    delay,
                )
                return "retry"
            if temporary:
                reason = f"gave up after {attempts} attempts: {reason}"
            await self.outbox.failed(entry_id, email, attempts, reason)
            logger.error("mail for ticket %s not sent: %s", email.ticket_id, reason)
            return "failed"
        await self.outbox.sent(entry_id)
        logger.info("mail for ticket %s sent (attempt %d)", email.ticket_id, attempts)
        return "sent"

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        settings = self.settings
        return min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (attempts - 1))

    async def send(self, email: OutgoingEmail) -> None:
        """Hand one mail to the SMTP server.

        Raises:
            aiosmtplib.SMTPException, OSError: the server refused it or could not be reached.
        """
        settings = self.settings
        await aiosmtplib.send(
            email.to_message(),
            sender=email.envelope_sender or None,
            recipients=[email.to],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            use_tls=settings.smtp_tls,
            start_tls=False if settings.smtp_tls else settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
