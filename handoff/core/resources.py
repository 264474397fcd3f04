"""The composition root: the one place that builds the resources every process shares.

The handoff service, the action server, the widget channel, the retraining CLI and the
dev tools all get their Redis client, handoff store, outbox and CSR accounts from
:class:`Resources`, built from the one settings object (:mod:`handoff.core.settings`).
So every process applies the same record TTL, metrics retention, priorities and
decoding: a copy built by hand once ignored ``record_ttl_days`` and reset every
escalated conversation to 30 days.

Nothing here connects at construction; redis-py connects on the first command, on
the event loop of the process that uses it.
"""

from __future__ import annotations

from functools import cached_property

import redis.asyncio as aioredis

from handoff.core.attachments import Attachments
from handoff.core.auth import Auth
from handoff.core.availability import Availability
from handoff.core.customers import CustomerProfiles
from handoff.core.followup import Followups
from handoff.core.mail import MailOutbox
from handoff.core.outbox import Outbox
from handoff.core.presence import Presence
from handoff.core.redis_connection import async_client, close_client
from handoff.core.resume_links import ResumeLinks
from handoff.core.settings import HandoffConfig
from handoff.core.sla import SlaPolicy
from handoff.core.store import HandoffStore
from handoff.core.tickets import TicketDesk

DAY = 86400


def redis_client(settings: HandoffConfig) -> aioredis.Redis:
    """An asyncio client that returns ``str``, never ``bytes``; pooled, retried, Sentinel-aware.

    See :func:`handoff.core.redis_connection.async_client`.
    """
    return async_client(settings)


class Resources:
    """The shared resources of one process, each built on first use and then kept.

    Args:
        settings: The validated settings (see :func:`handoff.core.settings.load_config`).
        redis: A client to use instead of one built from ``settings.redis_url``
            (its owner closes it).
    """

    def __init__(self, settings: HandoffConfig, redis: aioredis.Redis | None = None):
        """Keep the settings; nothing is built yet."""
        self.settings = settings
        self._given_redis = redis
        self._owned_redis: aioredis.Redis | None = None

    @property
    def redis(self) -> aioredis.Redis:
        """The process's one Redis client (decoded replies)."""
        if self._given_redis is not None:
            return self._given_redis
        if self._owned_redis is None:
            self._owned_redis = redis_client(self.settings)
        return self._owned_redis

    @cached_property
    def store(self) -> HandoffStore:
        """Conversation records, the queue and metrics, with the configured TTL and retention."""
        settings = self.settings
        return HandoffStore(
            self.redis,
            priorities=settings.priorities,
            default_priority=settings.default_priority,
            default_wait_seconds=settings.default_wait_seconds,
            record_ttl_seconds=settings.record_ttl_days * DAY,
            metrics_retention_seconds=settings.metrics_retention_days * DAY,
        )

    @cached_property
    def outbox(self) -> Outbox:
        """The per-conversation streams of messages to customers."""
        return Outbox(self.redis)

    @cached_property
    def attachments(self) -> Attachments:
        """Customers' files, with the configured limits, kept as long as conversation records."""
        settings = self.settings
        return Attachments(
            self.redis,
            self.store,
            self.outbox,
            max_bytes=settings.max_attachment_bytes,
            max_count=settings.max_attachments_per_conversation,
            ttl_seconds=settings.record_ttl_days * DAY,
        )

    @cached_property
    def mail_outbox(self) -> MailOutbox:
        """The durable queue of mails to customers (sent by the service's mailers)."""
        return MailOutbox(self.redis)

    @cached_property
    def resume_links(self) -> ResumeLinks:
        """Signed links in mails that reopen a conversation in the widget."""
        email = self.settings.email
        return ResumeLinks(
            self.settings.secret,
            page_url=email.resume_page_url,
            ttl_seconds=email.link_ttl_days * DAY,
        )

    @cached_property
    def auth(self) -> Auth:
        """CSR and admin accounts, logins and tokens."""
        settings = self.settings
        return Auth(
            self.redis,
            settings.secret,
            token_ttl_seconds=settings.token_ttl_seconds,
            max_failures=settings.login_max_failures,
            lockout_seconds=settings.login_lockout_seconds,
            max_address_failures=settings.login_max_failures_per_address,
        )

    @cached_property
    def followups(self) -> Followups:
        """The "did that solve it?" questions and their answers (first-contact resolution)."""
        settings = self.settings
        return Followups(
            self.redis,
            self.store,
            metrics_retention_seconds=settings.metrics_retention_days * DAY,
        )

    @cached_property
    def availability(self) -> Availability:
        """Team away mode (the bot offers tickets instead of the live queue)."""
        return Availability(self.redis)

    @cached_property
    def presence(self) -> Presence:
        """Which CSRs have a console open (the bot offers tickets when nobody has)."""
        return Presence(self.redis)

    @cached_property
    def tickets(self) -> TicketDesk:
        """The ticket inbox, with SLA targets counted in the team's business hours."""
        settings = self.settings
        return TicketDesk(
            self.redis,
            self.store,
            sla=SlaPolicy(settings.business_hours, settings.tickets.sla),
            mail_outbox=self.mail_outbox,
            resume_links=self.resume_links,
            secret=settings.secret,
            outbox=self.outbox,
            auth=self.auth,
            email_settings=settings.email,
            max_message_chars=settings.max_message_chars,
        )

    @cached_property
    def customers(self) -> CustomerProfiles:
        """Who a verified customer is: their conversations, proved orders and tickets."""
        return CustomerProfiles(self.redis, self.settings.secret, tickets=self.tickets)

    async def close(self) -> None:
        """Close the Redis client this object built; the next use builds a new one."""
        client, self._owned_redis = self._owned_redis, None
        for name, member in vars(type(self)).items():
            if isinstance(member, cached_property):
                self.__dict__.pop(name, None)
        if client is not None:
            await close_client(client)
