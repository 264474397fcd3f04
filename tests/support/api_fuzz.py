"""Property-based tests of the two HTTP APIs (schemathesis), against the running ``stack``.

The documents fuzzed are the ones the services serve: the handoff service's
``GET /openapi.yaml`` and the widget channel's ``GET /webhooks/widget/openapi.yaml``, so what
is checked is what a client reads. Every response must be no 5xx, have a documented status
and content type, and match the documented schema (``CHECKS``).

Who calls: anonymous (whatever token the generator makes up, or none), a customer (a widget
token from ``POST /webhooks/widget/session``), a CSR and an admin (the demo accounts of
``bot.devtools.stack``). Every request comes from its own client address (``X-Real-IP``, which
the stack trusts for the fuzz, see tests/conftest.py), so the per-address limits (new widget
sessions, failed logins) never turn the fuzz's own traffic into 429s for the other tests; a
customer token is replaced after a few calls for the same reason (messages per conversation).
429 is a documented status all the same.

The seed is ``$API_FUZZ_SEED`` when set (to replay a run), else random; the run prints it
and the number of cases per API at the end (tests/api_fuzz/conftest.py).
"""

from __future__ import annotations

import copy
import itertools
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from hypothesis.stateful import initialize
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SEED_ENV = "API_FUZZ_SEED"
LOG_ENV = "API_FUZZ_LOG"  # a file: one line per call (operation, role, status, error code)
ROLES = ("anonymous", "customer", "csr", "admin")
WIDGET_PREFIX = "/webhooks/widget"
TIMEOUT = 60

# Left out on purpose: they start a real `rasa train` (minutes on two cores) or swap the model
# every Rasa server runs, under the tests that share the stack. tests/integration/
# test_retraining_e2e.py drives them for real.
NOT_FUZZED = (
    "POST /api/admin/training",
    "POST /api/admin/models/activate",
    "POST /api/admin/models/rollback",
)
# These revoke the token they are called with (and could change a password): they get an
# account of their own, logged in afresh for each call.
OWN_ACCOUNT = ("POST /api/logout", "POST /api/me/password")
FUZZ_ACCOUNT = "fuzz-csr"
ADMIN_ONLY = ("/api/admin/", "/api/metrics")
ASK_FOR_A_PERSON = "I want to talk to a person"  # the trained bot escalates this
# How many cases per operation (schemathesis' max-examples; operations without inputs get
# one per role), sized so the whole fuzz stays within a few minutes on two cores.
HANDOFF_EXAMPLES = 30
WIDGET_EXAMPLES = 150
CONVERSATION_SCENARIOS: Dict[str, Any] = {"scenarios": 30, "steps": 12, "waiting": True}
CSR_SCENARIOS: Dict[str, Any] = {"scenarios": 30, "steps": 10, "waiting": True}
REVIEW_SCENARIOS: Dict[str, Any] = {"scenarios": 10, "steps": 6, "waiting": False}
# A customer token serves this many calls, then a new session: far below the widget's
# 20 messages per conversation per minute.
CUSTOMER_CALLS = 8


def api_of(path: str) -> str:
    return "widget" if path.startswith(WIDGET_PREFIX) else "handoff"


def fuzz_seed() -> int:
    """``$API_FUZZ_SEED`` when set, else a fresh random seed."""
    given = os.environ.get(SEED_ENV, "").strip()
    return int(given) if given else random.SystemRandom().randrange(2**32)


@dataclass
class FuzzRun:
    """What the end-of-run summary prints."""

    seed: int
    cases: Dict[str, int] = field(default_factory=lambda: {"handoff": 0, "widget": 0})
    stateful_steps: Dict[str, int] = field(default_factory=lambda: {"handoff": 0, "widget": 0})
    statuses: Dict[str, Counter] = field(
        default_factory=lambda: {"handoff": Counter(), "widget": Counter()}
    )
    seconds: float = 0.0  # spent in the fuzz tests (tests/api_fuzz/conftest.py times them)

    def count(self, path: str, status: int, stateful: bool = False) -> None:
        api = api_of(path)
        self.statuses[api][status] += 1
        self.cases[api] += 1
        if stateful:
            self.stateful_steps[api] += 1

    def summary(self) -> List[str]:
        lines = [
            f"API fuzz: seed {self.seed} (replay with {SEED_ENV}={self.seed}), "
            f"{self.seconds:.0f} s in the fuzz tests"
        ]
        for api, total in self.cases.items():
            steps = self.stateful_steps[api]
            answers = ", ".join(f"{n}x {code}" for code, n in sorted(self.statuses[api].items()))
            lines.append(
                f"API fuzz: {api} API: {total} cases ({total - steps} per operation, "
                f"{steps} in stateful scenarios); answers: {answers or 'none'}"
            )
        return lines


RUNS: List[FuzzRun] = []


class Callers:
    """Tokens per role and a fresh client address for every request."""

    def __init__(self, rasa_url: str, handoff_url: str, staff_password: str, own_password: str):
        self.rasa_url = rasa_url
        self.handoff_url = handoff_url
        self.http = requests.Session()
        self._passwords = {"csr": ("alice", staff_password), "admin": ("admin", staff_password)}
        self._own = (FUZZ_ACCOUNT, own_password)
        self._addresses = itertools.count(1)
        self._staff: Dict[str, str] = {}
        self._customer: Optional[str] = None
        self._customer_calls = 0
        self.conversations: List[str] = []  # started by the fuzz, closed at the end

    def address(self) -> str:
        """A private address no other test uses (10.0.0.0/8)."""
        n = next(self._addresses)
        return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

    def login(self, username: str, password: str) -> str:
        response = self.http.post(
            f"{self.handoff_url}/api/login",
            json={"username": username, "password": password},
            headers={"X-Real-IP": self.address()},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def staff_token(self, role: str) -> str:
        if role not in self._staff:
            self._staff[role] = self.login(*self._passwords[role])
        return self._staff[role]

    def forget(self, role: str) -> None:
        """The token stopped working (logged out elsewhere, revoked): log in again next time."""
        self._staff.pop(role, None)

    def new_customer(self) -> Dict[str, Any]:
        response = self.http.post(
            f"{self.rasa_url}{WIDGET_PREFIX}/session",
            json={"page_url": "https://shop.example/fuzz", "locale": "en-US"},
            headers={"X-Real-IP": self.address()},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        session = response.json()
        self.conversations.append(session["conversation_id"])
        return session

    def waiting_customer(self) -> str:
        """The token of a new customer who asked for a person (the bot queues them)."""
        token = self.new_customer()["token"]
        response = self.http.post(
            f"{self.rasa_url}{WIDGET_PREFIX}/messages",
            json={"text": ASK_FOR_A_PERSON},
            headers={"Authorization": f"Bearer {token}", "X-Real-IP": self.address()},
            timeout=TIMEOUT,
        )
        assert response.status_code in (200, 202), response.text
        return token

    def customer_token(self) -> str:
        if self._customer is None or self._customer_calls >= CUSTOMER_CALLS:
            self._customer, self._customer_calls = self.new_customer()["token"], 0
        self._customer_calls += 1
        return self._customer

    def token(self, role: str, label: str) -> Optional[str]:
        """The bearer token ``role`` sends to the operation ``label`` (None: anonymous)."""
        if role == "anonymous":
            return None
        if role == "customer":
            return self.customer_token()
        if label in OWN_ACCOUNT:
            return self.login(*self._own)
        return self.staff_token(role)

    def noticed(self, response: requests.Response, role: str, label: str) -> None:
        """Keep the caches true to what the services said."""
        sent = response.request.headers.get("Authorization")
        if response.status_code == 401 and sent and sent == f"Bearer {self._staff.get(role)}":
            self.forget(role)  # our own token was refused, not a token the generator dropped
        if label == f"POST {WIDGET_PREFIX}/session" and response.status_code == 200:
            self.conversations.append(response.json()["conversation_id"])

    def close_leftovers(self) -> None:
        """Close what the fuzz left waiting or assigned, so later tests meet a short queue.

        And bring the team back: a fuzzed ``PUT /api/availability`` would leave it away, and
        later tests' escalations would be offered tickets instead of the queue.
        """

        def bring_the_team_back() -> Any:
            return self.http.delete(
                f"{self.handoff_url}/api/availability",
                headers={
                    "Authorization": f"Bearer {self.staff_token('admin')}",
                    "X-Real-IP": self.address(),
                },
                timeout=TIMEOUT,
            )

        back = bring_the_team_back()
        if back.status_code == 401:  # the fuzz logged the admin out
            self.forget("admin")
            back = bring_the_team_back()
        assert back.status_code == 200, f"the team could not be brought back: {back.text}"
        token = self.staff_token("admin")
        for conv_id in dict.fromkeys(self.conversations):
            self.http.post(
                f"{self.handoff_url}/api/conversations/{conv_id}/close",
                json={"resolution": "fuzz"},
                headers={"Authorization": f"Bearer {token}", "X-Real-IP": self.address()},
                timeout=TIMEOUT,
            )


def log_call(case: Any, role: str, response: Any) -> None:
    """One line in ``$API_FUZZ_LOG``, when set: what was called, as whom, and the answer."""
    target = os.environ.get(LOG_ENV)
    if not target:
        return
    try:
        error = response.json().get("error") or {}
        code = f"{error.get('code', '')}\t{str(error.get('message', ''))[:100]}"
    except (ValueError, AttributeError):
        code = ""
    with open(target, "a", encoding="utf-8") as out:
        out.write(f"{case.operation.label}\t{role}\t{response.status_code}\t{code}\n")


def run_case(case: Any, role: str, callers: Callers, run: FuzzRun) -> None:
    """One generated case as ``role``: call the running service, check the answer."""
    label = case.operation.label
    headers = dict(case.headers or {})
    token = callers.token(role, label)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers["X-Real-IP"] = callers.address()
    case.headers = headers
    response = case.call(session=callers.http, timeout=TIMEOUT, allow_redirects=False)
    run.count(case.path, response.status_code)
    log_call(case, role, response)
    callers.noticed(response, role, label)
    case.validate_response(response, checks=CHECKS)


# ---- the documents ------------------------------------------------------------------------


def config(seed: int, max_examples: int) -> Any:
    """A schemathesis configuration: this seed, no example database, explicit links only."""
    return schemathesis.Config.from_dict(
        {
            "seed": seed,
            "generation": {"max-examples": max_examples, "database": "none"},
            # No examples phase: it cannot be combined with the drawn role (schema.given).
            "phases": {
                "examples": {"enabled": False},
                # Scenarios go deep with valid data; the negative cases are the per-operation
                # tests' job.
                "stateful": {
                    "inference": {"algorithms": []},
                    "generation": {"mode": "positive"},
                },
            },
            # Disabled here, not only filtered: pytest's lazy schemas keep just these filters.
            "operations": [{"include-name": name, "enabled": False} for name in NOT_FUZZED],
        }
    )


def load(url: str, base_url: str, configuration: Any) -> Any:
    """The document served at ``url``, minus the operations never fuzzed."""
    schema = schemathesis.openapi.from_url(url, config=configuration)
    schema.config.update(base_url=base_url)
    return schema.exclude(name=list(NOT_FUZZED))


def fetch_document(url: str) -> Dict[str, Any]:
    response = requests.get(url, timeout=TIMEOUT)
    response.raise_for_status()
    return yaml.safe_load(response.text)


def merged_document(handoff: Dict[str, Any], widget: Dict[str, Any]) -> Dict[str, Any]:
    """Both documents in one, so one state machine follows a conversation end to end.

    The widget's components are renamed ``widget_<name>`` (the documents share names such as
    ``Error``). One link is added that neither document can hold alone: the conversation id of
    ``POST /webhooks/widget/session`` is the one a CSR claims in the handoff API once the
    customer asked for a person (the widget document says so in its ``AskForAPerson`` link).
    """
    widget = _renamed_components(copy.deepcopy(widget), "widget_")
    doc = copy.deepcopy(handoff)
    doc["paths"].update(widget["paths"])
    for kind, items in widget.get("components", {}).items():
        doc.setdefault("components", {}).setdefault(kind, {}).update(items)
    links = doc["paths"][f"{WIDGET_PREFIX}/session"]["post"]["responses"]["200"]["links"]
    links["CsrClaims"] = {
        "operationId": "claimConversation",
        "parameters": {"path.conv_id": "$response.body#/conversation_id"},
    }
    links["CsrReads"] = {
        "operationId": "getConversation",
        "parameters": {"path.conv_id": "$response.body#/conversation_id"},
    }
    # A transfer needs an existing account: the fuzz's own (the documents know no usernames).
    claimed = doc["paths"]["/api/conversations/{conv_id}/claim"]["post"]["responses"]["200"]
    claimed["links"]["TransferToTheFuzzAccount"] = {
        "operationId": "transferConversation",
        "parameters": {"path.conv_id": "$response.body#/id"},
        "requestBody": {"to": FUZZ_ACCOUNT},
    }
    return doc


def only_paths(doc: Dict[str, Any], path_regex: str) -> Dict[str, Any]:
    """``doc`` with only the paths matching ``path_regex``, and only the links between them.

    (A schema's ``include()`` does not narrow what its state machine is built from.)
    """
    doc = copy.deepcopy(doc)
    doc["paths"] = {p: item for p, item in doc["paths"].items() if re.search(path_regex, p)}
    kept = {
        op["operationId"]
        for item in doc["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    for item in doc["paths"].values():
        for op in item.values():
            for response in (op.get("responses") or {}).values() if isinstance(op, dict) else ():
                links = response.get("links")
                if links:
                    response["links"] = {
                        name: link
                        for name, link in links.items()
                        if link.get("operationId") in kept
                    }
    return doc


def _renamed_components(doc: Dict[str, Any], prefix: str) -> Dict[str, Any]:
    components = doc.get("components", {})
    doc["components"] = {
        kind: {prefix + name: value for name, value in items.items()}
        for kind, items in components.items()
    }

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                kind, name = ref[len("#/components/") :].split("/", 1)
                node["$ref"] = f"#/components/{kind}/{prefix}{name}"
            if isinstance(node.get("security"), list):
                node["security"] = [
                    {prefix + scheme: scopes for scheme, scopes in requirement.items()}
                    for requirement in node["security"]
                ]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)
        return node

    visit(doc["paths"])
    visit(doc["components"])
    return doc


# ---- stateful -----------------------------------------------------------------------------


def run_scenarios(
    schema: Any, callers: Callers, run: FuzzRun, scenarios: int, steps: int, waiting: bool
) -> None:
    """Follow the links of ``schema`` for ``scenarios`` scenarios of up to ``steps`` calls.

    With ``waiting``, each scenario starts with a customer who asked for a person, so the links
    from GET /api/queue (claim, write, close...) meet a real conversation.

    Hypothesis expects the same draws to meet the same rules, but a live service moves on
    (the queue, the review list, ids): when it notices (``FlakyStrategyDefinition``), the
    run continues with the scenarios left and the next seed, as ``schemathesis run`` does.
    A failed check is kept aside first, so a replay that cannot reproduce it never hides it.
    """
    failures: List[BaseException] = []
    done = [0]
    attempt = 0
    while done[0] < scenarios and not failures:
        machine = state_machine(schema, callers, run, failures, done, waiting)
        before = done[0]
        try:
            hypothesis_seed(run.seed + attempt)(machine).run(
                settings=stateful_settings(scenarios - done[0], steps)
            )
        except FlakyStrategyDefinition:
            if done[0] == before:
                raise  # not one scenario could run: something else is wrong
        attempt += 1
    if failures:
        raise failures[0]


def state_machine(
    schema: Any,
    callers: Callers,
    run: FuzzRun,
    failures: List[BaseException],
    done: List[int],
    waiting: bool,
) -> Any:
    """The links of both documents as a state machine over the running services.

    Each scenario is one CSR (alice or the admin, drawn) and the customers it starts. A
    widget call whose link carried no token gets the scenario's latest customer token, as the
    widget keeps it; a handoff call always carries the scenario's staff token.
    """
    urls = {"widget": callers.rasa_url, "handoff": callers.handoff_url}

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            done[0] += 1
            self.role = "csr"
            self.customer: Optional[str] = callers.waiting_customer() if waiting else None
            self.issued = {f"Bearer {self.customer}"} if self.customer else set()

        @initialize(role=st.sampled_from(("csr", "admin")))
        def staff(self, role: str) -> None:
            self.role = role

        def before_call(self, case: Any) -> None:
            label = case.operation.label
            headers = dict(case.headers or {})
            headers["X-Real-IP"] = callers.address()
            if api_of(case.path) == "widget":
                if self.customer is None and label != f"POST {WIDGET_PREFIX}/session":
                    self.customer = callers.new_customer()["token"]  # the widget starts one
                    self.issued.add(f"Bearer {self.customer}")
                if self.customer and headers.get("Authorization", "") not in self.issued:
                    headers["Authorization"] = f"Bearer {self.customer}"
            elif label != "POST /api/login":
                # The admin's tools always as the admin: a CSR's 403 is the per-operation
                # tests' business, here it would only end the scenario.
                role = "admin" if case.path.startswith(ADMIN_ONLY) else self.role
                headers["Authorization"] = f"Bearer {callers.token(role, label)}"
            case.headers = headers

        def call(self, case: Any, **kwargs: Any) -> Any:
            return case.call(
                base_url=urls[api_of(case.path)],
                session=callers.http,
                timeout=TIMEOUT,
                allow_redirects=False,
                **kwargs,
            )

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            run.count(case.path, response.status_code, stateful=True)
            log_call(case, f"stateful {self.role} #{done[0]}", response)
            label = case.operation.label
            callers.noticed(response, self.role, label)
            if label == f"POST {WIDGET_PREFIX}/session" and response.status_code == 200:
                self.customer = response.json()["token"]
                self.issued.add(f"Bearer {self.customer}")

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            try:
                case.validate_response(
                    response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder
                )
            except Exception as exc:
                failures.append(exc)
                raise

    return Workflow


def stateful_settings(scenarios: int, steps: int) -> Any:
    return hypothesis_settings(
        max_examples=scenarios,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        # Only generate: replaying a scenario against a live service that has moved on (new
        # ids, other queue) cannot reproduce it step by step, so no shrinking.
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
