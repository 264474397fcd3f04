"""Customers' email replies, as mail providers' inbound-parse webhooks post them.

SendGrid Inbound Parse and Mailgun Routes both POST a form (multipart/form-data or
application/x-www-form-urlencoded) for every mail they receive; the field names differ:

============  ==========================================  =========================
what          SendGrid                                    Mailgun
============  ==========================================  =========================
sender        ``from`` (``Name <a@b>``), ``envelope``      ``sender``, ``from``
recipients    ``to``, ``cc``, ``envelope`` (JSON ``to``)   ``recipient``, ``To``
subject       ``subject``                                 ``subject``
text          ``text`` (else ``html``)                    ``stripped-text``,
                                                          ``body-plain``
headers       ``headers`` (raw)                           ``message-headers`` (JSON)
============  ==========================================  =========================

:func:`parse_form` reads either into an :class:`InboundMail`; :func:`route_reply`
finds the ticket and hands the reply to the ticket desk. The ticket comes from the
signed reply address (:func:`handoff.core.mail.ticket_of_addresses`) or, failing that,
from a ``[T-…]`` in the subject, and then only when the sender's customer key matches
the ticket's: a subject alone is no proof of anything.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import re
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any, Dict, List, Mapping, Optional, Protocol

from handoff.core import errors
from handoff.core.customers import customer_key
from handoff.core.mail import ticket_of_addresses, ticket_of_subject
from handoff.core.settings import EmailSettings
from handoff.core.text_rules import check_text, first_forbidden

logger = logging.getLogger(__name__)

# "On Tue, 1 Dec 2026 at 10:00, Support <support@shop.example> wrote:" (Gmail, Apple Mail,
# Thunderbird), sometimes wrapped over two lines; Outlook's separator lines.
_QUOTE_HEADER = re.compile(r"^\s*On\s.{0,300}wrote:\s*$", re.IGNORECASE | re.DOTALL)
_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*Original Message\s*-{2,}|_{10,}|-{2,}\s*Forwarded message\s*-{2,})\s*$",
    re.IGNORECASE,
)
_AUTO_SUBMITTED = re.compile(r"^auto-submitted:\s*auto-", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class InboundMail:
    """One received mail, whatever the provider.

    Attributes:
        sender: The sender's bare address ('' if none was given).
        recipients: Every address the mail was for (envelope and headers).
        subject: The subject line.
        text: The plain-text body as received.
        stripped: The reply without quoted text, when the provider made one.
        automatic: Whether the mail says it was sent by a program (out-of-office).
    """

    sender: str
    recipients: List[str]
    subject: str
    text: str
    stripped: Optional[str]
    automatic: bool

    @property
    def reply(self) -> str:
        """What the customer wrote: the provider's stripped text, or ours."""
        return self.stripped if self.stripped is not None else strip_quoted(self.text)


class Tickets(Protocol):
    """What routing needs of the ticket desk (:class:`handoff.core.tickets.TicketDesk`)."""

    async def get(self, ticket_id: str) -> Any:
        """The ticket; raises a NotFound error."""

    async def customer_replied(self, ticket_id: str, text: str, *, via: str) -> Any:
        """Record the customer's reply on the ticket."""


def _first(form: Mapping[str, Any], *names: str) -> Optional[str]:
    for name in names:
        value = form.get(name)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            return value
    return None


def parse_form(form: Mapping[str, Any]) -> InboundMail:
    """An inbound-parse post (SendGrid or Mailgun field names) as a mail.

    Args:
        form: Field name -> value, or list of values (as form parsers give them).
    """
    envelope = _envelope(_first(form, "envelope"))
    sender = parseaddr(_first(form, "sender", "from", "From") or "")[1] or str(
        envelope.get("from") or ""
    )
    recipients = [str(a) for a in envelope.get("to") or [] if isinstance(a, str)]
    for name in ("recipient", "to", "To", "cc", "Cc"):
        value = _first(form, name)
        if value:
            recipients += [addr for _n, addr in getaddresses([value]) if addr]
    text = _first(form, "body-plain", "text")
    if text is None:
        text = html_to_text(_first(form, "body-html", "html") or "")
    headers = _first(form, "headers") or ""
    mailgun_headers = _first(form, "message-headers")
    if mailgun_headers:
        try:
            pairs = json.loads(mailgun_headers)
            headers += "\n".join(f"{k}: {v}" for k, v in pairs if isinstance(k, str))
        except (ValueError, TypeError):
            pass
    return InboundMail(
        sender=sender.strip(),
        recipients=list(dict.fromkeys(recipients)),
        subject=_first(form, "subject", "Subject") or "",
        text=text,
        stripped=_first(form, "stripped-text"),
        automatic=bool(_AUTO_SUBMITTED.search(headers)),
    )


def _envelope(raw: Optional[str]) -> Dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def strip_quoted(text: str) -> str:
    """The new part of a reply: everything above the quoted mail it answers.

    Cuts at an ``On … wrote:`` line (also wrapped over two lines), an Outlook
    ``Original Message`` separator, or a ``-- `` signature line, and drops lines
    quoted with ``>``.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: List[str] = []
    for index, line in enumerate(lines):
        joined = line + " " + (lines[index + 1] if index + 1 < len(lines) else "")
        if _QUOTE_HEADER.match(line) or (
            line.lstrip().lower().startswith("on ") and _QUOTE_HEADER.match(joined)
        ):
            break
        if _SEPARATOR.match(line) or line == "-- ":
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: List[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("br", "p", "div", "tr", "li", "blockquote"):
            self.parts.append("\n")
        if tag == "blockquote":
            self.parts.append("> ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body (only used when a provider sends no text part)."""
    parser = _TextOnly()
    parser.feed(markup)
    parser.close()
    return html_lib.unescape("".join(parser.parts))


def clean_reply(text: str, max_chars: int) -> str:
    """A reply as text the product can store: forbidden characters dropped, cut to length.

    Mail is not a form the customer can correct, so nothing is refused for a stray control
    character or its length: it is repaired, then checked like any other text.

    Raises:
        InvalidInput: ``empty_text`` when nothing is left.
    """
    chars = list(text.replace("\r\n", "\n").replace("\r", "\n"))
    while (index := first_forbidden("".join(chars))) is not None:
        chars[index] = " "
    cleaned = "".join(chars).strip()
    if len(cleaned) > max_chars:
        cleaned = cleaned[: max_chars - 2].rstrip() + " …"
    return check_text(cleaned, "text", max_chars=max_chars)


async def find_ticket(
    mail: InboundMail, *, tickets: Tickets, settings: EmailSettings, secret: str
) -> Optional[str]:
    """The ticket a reply belongs to, or None.

    The signed reply address decides. Without one, a ``[T-…]`` in the subject counts only
    when the sender's customer key (:func:`handoff.core.customers.customer_key`) is the
    ticket's.
    """
    ticket_id = ticket_of_addresses(settings, ", ".join(mail.recipients))
    if ticket_id is not None:
        return ticket_id
    ticket_id = ticket_of_subject(mail.subject)
    if ticket_id is None or not mail.sender:
        return None
    try:
        ticket = await tickets.get(ticket_id)
    except errors.NotFound:
        return None
    expected = getattr(ticket, "customer_key", None)
    return ticket_id if expected and expected == customer_key(secret, mail.sender) else None


async def route_reply(
    mail: InboundMail,
    *,
    tickets: Tickets,
    settings: EmailSettings,
    secret: str,
    max_chars: int,
) -> Dict[str, str]:
    """Hand a customer's reply to its ticket.

    Returns:
        ``{"ticket_id": id}`` when the reply was added, ``{"ignored": reason}`` when the
        mail belongs to no ticket (``no_ticket``), is automatic (``automatic_reply``),
        says nothing once quotes are stripped (``empty``), or the ticket refused it (the
        error's code). Mail providers retry what is not a 2xx, so mail that can never be
        taken must still be answered with 200.

    Raises:
        redis errors: storage is down (a 503; the provider will retry, as it should).
    """
    if mail.automatic:
        return {"ignored": "automatic_reply"}
    ticket_id = await find_ticket(mail, tickets=tickets, settings=settings, secret=secret)
    if ticket_id is None:
        return {"ignored": "no_ticket"}
    try:
        text = clean_reply(mail.reply, max_chars)
    except errors.InvalidInput:
        return {"ignored": "empty"}
    try:
        ticket = await tickets.customer_replied(ticket_id, text, via="email")
    except (errors.NotFound, errors.InvalidInput, errors.Conflict, errors.Forbidden) as exc:
        logger.warning("email reply to ticket %s not taken: %s", ticket_id, exc.code)
        return {"ignored": exc.code}
    return {"ticket_id": getattr(ticket, "id", ticket_id)}
