"""Fixtures for the core tests of customers and retention: a ticket desk and the customer
profiles on the test's Redis, the store and the fake clock of tests/handoff/conftest.py."""

from __future__ import annotations

import pytest

from handoff.core.customers import CustomerProfiles
from handoff.core.mail import MailOutbox
from handoff.core.resume_links import ResumeLinks
from handoff.core.settings import from_mapping
from handoff.core.sla import SlaPolicy
from handoff.core.tickets import TicketDesk
from tests.support.auth import SECRET


@pytest.fixture
def tickets(redis_client, store, clock):
    """A ticket desk with the default business hours and SLA."""
    settings = from_mapping({"secret": SECRET})
    return TicketDesk(
        redis_client,
        store,
        sla=SlaPolicy(settings.business_hours, settings.tickets.sla),
        mail_outbox=MailOutbox(redis_client),
        resume_links=ResumeLinks(SECRET, page_url="http://shop.example/help", ttl_seconds=3600),
        secret=SECRET,
        clock=clock,
    )


@pytest.fixture
def customers(redis_client, tickets, clock):
    return CustomerProfiles(redis_client, SECRET, tickets=tickets, clock=clock)
