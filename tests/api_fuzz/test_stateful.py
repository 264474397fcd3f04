"""Scenarios that follow the OpenAPI links of both documents through the running product.

A customer starts a session, talks to the bot and asks for a person (the bot escalates through
the action server); a CSR claims the conversation, writes, types, notes, transfers, releases
or closes it, while the customer keeps writing, reads the outbox or leaves the queue. An admin
labels the items of the review list. Every step is checked like a single case; see
tests/support/api_fuzz.py for the callers and the link that joins the two documents.
"""

from __future__ import annotations

import pytest
import schemathesis

from tests.support import api_fuzz

pytestmark = pytest.mark.model


CSR_CHAIN = r"^/api/(queue|conversations/\{conv_id\}(/claim|/messages|/close)?)$"


def _schema(both_documents, run, path_regex):
    configuration = api_fuzz.config(run.seed, max_examples=1)
    document = api_fuzz.only_paths(both_documents, path_regex)
    return schemathesis.openapi.from_dict(document, config=configuration)


def test_a_conversation_from_the_widget_to_the_console(both_documents, fuzz_run, callers):
    schema = _schema(
        both_documents, fuzz_run, r"^(/webhooks/widget/|/api/queue|/api/conversations)"
    )
    api_fuzz.run_scenarios(schema, callers, fuzz_run, **api_fuzz.CONVERSATION_SCENARIOS)


def test_a_csr_claims_writes_and_closes(both_documents, fuzz_run, callers):
    # The same links with fewer operations around them, so the chain queue -> claim -> write
    # -> close is walked often, not only now and then.
    schema = _schema(both_documents, fuzz_run, CSR_CHAIN)
    api_fuzz.run_scenarios(schema, callers, fuzz_run, **api_fuzz.CSR_SCENARIOS)


def test_review_and_labels(both_documents, fuzz_run, callers):
    schema = _schema(both_documents, fuzz_run, r"^/api/admin/review")
    api_fuzz.run_scenarios(schema, callers, fuzz_run, **api_fuzz.REVIEW_SCENARIOS)
