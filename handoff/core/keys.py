"""Every Redis key and pub/sub channel the handoff service uses, in one place.

All names start with ``handoff:`` so the service can share a Redis database
with Rasa's tracker and lock stores without collisions. The kind comes before
the id and the id is always last, so no id (even one containing ``:``) can
make one key look like another. Callers validate ids first (see ``check_id``).

Layout::

    handoff:conv:{id}                 hash    the conversation record
    handoff:transcript:{id}           list    JSON messages, oldest first
    handoff:notes:{id}                list    JSON internal CSR notes
    handoff:signals:{id}              channel ephemeral notices to the customer (typing)
    handoff:outbox:{id}               stream  messages to deliver to the customer
    handoff:outbox_appended:{id}      channel "the outbox of {id} grew" (wakes delivery hubs)
    handoff:delivery                  channel every delivery hub listens (a message: re-read all)
    handoff:attachments:{id}          hash    attachment id -> JSON metadata (name, type, size...)
    handoff:attachment_data:{id}      hash    attachment id -> the file's bytes, base64
    handoff:queue                     zset    queued conversation ids, score = priority + wait
    handoff:tickets                   zset    ticket ids, score = when opened
    handoff:ticket:{id}               hash    one ticket (status, priority, assignee, due times)
    handoff:ticket_thread:{id}        list    JSON public messages of a ticket, oldest first
    handoff:ticket_notes:{id}         list    JSON internal CSR notes on a ticket
    handoff:ticket_seq                string  counter numbering tickets (T-1001, T-1002...)
    handoff:customer_tickets:{key}    zset    ticket id -> when opened ({key}: customer_key)
    handoff:events                    channel live console events (JSON)
    handoff:webhook_events            stream  the same events, kept for webhook delivery
    handoff:webhook_failed            list    JSON deliveries given up on, newest last
    handoff:followup:{id}             hash    the "did that solve it?" question of one conversation
                                              (resolver, csr, reason, asked_at, answer; expires)
    handoff:availability              hash    team away mode: by, message, since (absent: normal)
    handoff:presence                  zset    CSR username -> when their console was last open
    handoff:mail_outbox               stream  emails to send (JSON), read by the mailers' group
    handoff:mail_retry                zset    JSON {email, attempts, last_error} -> next attempt
    handoff:mail_failed               stream  emails given up on, with the reason
    handoff:account:{username}        hash    a CSR/admin account
    handoff:accounts                  set     every username
    handoff:login_failures:{user}:{addr} hash failed logins of one user from one address
    handoff:address_failures:{addr}   string  failed logins from one address (expires)
    handoff:revoked_token:{jti}       string  a logged-out CSR token (expires with the token)
    handoff:customer_conversations:{key} zset conversation id -> when the customer last proved
                                              who they are in it ({key}: customers.customer_key)
    handoff:customer_orders:{key}     set     order ids the customer proved to be theirs
    handoff:conversation_customer:{id} string the customer key of one conversation
    handoff:conversation_ticket:{id}  string  the id of the newest ticket of one conversation
    handoff:retention_lock            string  held (with a TTL) by the instance that swept last
    handoff:metrics:started           zset    conversation id -> first seen
    handoff:metrics:escalated         zset    conversation id -> first escalation
    handoff:metrics:escalations       zset    JSON {conv, reason, at} -> time
    handoff:metrics:waits             zset    JSON {conv, wait, position, csr, reason, at} -> claim
    handoff:metrics:first_replies     zset    JSON {conv, seconds, csr, reason, at} -> reply time
    handoff:metrics:csat              zset    JSON {conv, closed_at, score, csr, reason} -> rated
    handoff:metrics:followups         zset    JSON {subject, kind, solved, resolver, csr, ...}
    handoff:metrics:reopens           zset    JSON {subject, kind, csr, reason, at} -> reopen time
    handoff:metrics:ticket_replies    zset    JSON {ticket, seconds, met, csr, ...}
    handoff:metrics:tickets_solved    zset    JSON {ticket, seconds, met, first_reply_met, csr,
                                              reason, priority, at} -> solve time
"""

from __future__ import annotations

import re

PREFIX = "handoff"

QUEUE = f"{PREFIX}:queue"
TICKETS = f"{PREFIX}:tickets"
TICKET_SEQ = f"{PREFIX}:ticket_seq"
EVENTS = f"{PREFIX}:events"
DELIVERY = f"{PREFIX}:delivery"
WEBHOOK_EVENTS = f"{PREFIX}:webhook_events"
WEBHOOK_FAILED = f"{PREFIX}:webhook_failed"
AVAILABILITY = f"{PREFIX}:availability"
PRESENCE = f"{PREFIX}:presence"
MAIL_OUTBOX = f"{PREFIX}:mail_outbox"
MAIL_RETRY = f"{PREFIX}:mail_retry"
MAIL_FAILED = f"{PREFIX}:mail_failed"
ACCOUNTS = f"{PREFIX}:accounts"
RETENTION_LOCK = f"{PREFIX}:retention_lock"

METRICS_STARTED = f"{PREFIX}:metrics:started"
METRICS_ESCALATED = f"{PREFIX}:metrics:escalated"
METRICS_ESCALATIONS = f"{PREFIX}:metrics:escalations"
METRICS_WAITS = f"{PREFIX}:metrics:waits"
METRICS_FIRST_REPLIES = f"{PREFIX}:metrics:first_replies"
METRICS_CSAT = f"{PREFIX}:metrics:csat"
METRICS_FOLLOWUPS = f"{PREFIX}:metrics:followups"
METRICS_REOPENS = f"{PREFIX}:metrics:reopens"
METRICS_TICKET_REPLIES = f"{PREFIX}:metrics:ticket_replies"
METRICS_TICKETS_SOLVED = f"{PREFIX}:metrics:tickets_solved"

# Rasa sender ids are free-form; keep them printable, short and without
# whitespace so they cannot smuggle separators or huge keys into Redis.
_ID = re.compile(r"^[A-Za-z0-9_.:@+\-]{1,128}$")


def check_id(value: str) -> bool:
    """Whether ``value`` is acceptable as a conversation id or username inside a key."""
    return isinstance(value, str) and bool(_ID.match(value))


def conversation(conv_id: str) -> str:
    """The hash holding one conversation record."""
    return f"{PREFIX}:conv:{conv_id}"


def transcript(conv_id: str) -> str:
    """The list of transcript messages of one conversation."""
    return f"{PREFIX}:transcript:{conv_id}"


def notes(conv_id: str) -> str:
    """The list of internal CSR notes of one conversation."""
    return f"{PREFIX}:notes:{conv_id}"


def signals(conv_id: str) -> str:
    """The pub/sub channel for ephemeral notices to one customer (typing)."""
    return f"{PREFIX}:signals:{conv_id}"


def outbox(conv_id: str) -> str:
    """The stream of messages waiting to be shown to one customer."""
    return f"{PREFIX}:outbox:{conv_id}"


def outbox_appended(conv_id: str) -> str:
    """The pub/sub channel told each time a message is added to one customer's outbox."""
    return f"{PREFIX}:outbox_appended:{conv_id}"


def attachments(conv_id: str) -> str:
    """The hash of one conversation's attachments: attachment id -> JSON metadata."""
    return f"{PREFIX}:attachments:{conv_id}"


def attachment_data(conv_id: str) -> str:
    """The hash of one conversation's attachment files: attachment id -> base64 bytes."""
    return f"{PREFIX}:attachment_data:{conv_id}"


def followup(conv_id: str) -> str:
    """The hash of one conversation's follow-up question and its answer."""
    return f"{PREFIX}:followup:{conv_id}"


def account(username: str) -> str:
    """The hash holding one CSR/admin account."""
    return f"{PREFIX}:account:{username}"


def login_failures(username: str, address: str) -> str:
    """Recent failed logins for one username from one client address (count, last)."""
    return f"{PREFIX}:login_failures:{username}:{address}"


def address_failures(address: str) -> str:
    """The counter of recent failed logins from one client address, whatever the username."""
    return f"{PREFIX}:address_failures:{address}"


def revoked_token(token_id: str) -> str:
    """Marks one CSR token (by its ``jti``) as logged out until it would have expired."""
    return f"{PREFIX}:revoked_token:{token_id}"


def customer_conversations(customer: str) -> str:
    """The conversations of one customer (a keyed hash, never an email): id -> last proof time."""
    return f"{PREFIX}:customer_conversations:{customer}"


def customer_orders(customer: str) -> str:
    """The order ids one customer proved to be theirs."""
    return f"{PREFIX}:customer_orders:{customer}"


def conversation_customer(conv_id: str) -> str:
    """The customer key of one conversation, once the customer proved who they are."""
    return f"{PREFIX}:conversation_customer:{conv_id}"


def conversation_ticket(conv_id: str) -> str:
    """The id of the newest ticket opened on one conversation (its resume link's ticket)."""
    return f"{PREFIX}:conversation_ticket:{conv_id}"


def ticket(ticket_id: str) -> str:
    """The hash holding one ticket."""
    return f"{PREFIX}:ticket:{ticket_id}"


def ticket_thread(ticket_id: str) -> str:
    """The list of a ticket's public messages (customer, CSR, system), oldest first."""
    return f"{PREFIX}:ticket_thread:{ticket_id}"


def ticket_notes(ticket_id: str) -> str:
    """The list of internal CSR notes on one ticket."""
    return f"{PREFIX}:ticket_notes:{ticket_id}"


def customer_tickets(customer: str) -> str:
    """The tickets of one customer (a keyed hash, never an email): ticket id -> opened."""
    return f"{PREFIX}:customer_tickets:{customer}"
