"""Settings of the handoff service, read once from ``handoff.yml`` and the environment.

The YAML file holds the defaults an operator edits; environment variables
override single values per deployment (see ``ENV_OVERRIDES``). The result is
validated once, in :func:`load_config`, so the rest of the service can trust it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from handoff.core import log_format
from handoff.core.errors import ConfigError
from handoff.core.redis_settings import REDIS_ENV_OVERRIDES, RedisSettings, redis_settings

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
RASA_TOKEN_FILE = Path("var") / "rasa_token"  # relative to the project; see shared_rasa_token
DEFAULT_CONFIG_FILE = REPO_ROOT / "handoff.yml"
DEV_SECRET = "dev-only-insecure-handoff-secret-change-me"
PRIORITIES = ("low", "normal", "high", "urgent")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# environment variable -> (config key, parser)
ENV_OVERRIDES: Dict[str, Tuple[str, Callable[[str], Any]]] = {
    "HANDOFF_ENV": ("environment", str),
    "HANDOFF_HOST": ("host", str),
    "HANDOFF_PORT": ("port", int),
    "REDIS_URL": ("redis_url", str),
    "HANDOFF_SECRET": ("secret", str),
    "HANDOFF_TOKEN_TTL_SECONDS": ("token_ttl_seconds", int),
    "RASA_URL": ("rasa_url", str),
    "RASA_TOKEN": ("rasa_token", str),
    "RASA_TIMEOUT_SECONDS": ("rasa_timeout_seconds", float),
    "HANDOFF_SLA_SECONDS": ("sla_seconds", int),
    "HANDOFF_MAX_MESSAGE_CHARS": ("max_message_chars", int),
    "HANDOFF_MAX_ATTACHMENT_BYTES": ("max_attachment_bytes", int),
    "HANDOFF_PROJECT_DIR": ("project_dir", Path),
    # Comma-separated; resolved when called (the parser is defined below).
    "HANDOFF_ALLOWED_ORIGINS": ("allowed_origins", lambda raw: _url_list(raw)),
    # Every process's log lines: text or json (handoff/core/log_format.py).
    "LOG_FORMAT": ("log_format", lambda raw: raw.strip().lower()),
}


def normalize_origin(origin: Any) -> Optional[str]:
    """``scheme://host[:port]`` in lower case without a default port, or None if malformed.

    Browsers send ``https://shop.example`` for ``https://shop.example:443``; both forms
    of a listed origin match.
    """
    if not isinstance(origin, str):
        return None
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username or parts.password or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _allowed_origins(raw: Any) -> Tuple[str, ...]:
    if isinstance(raw, str):
        raw = _url_list(raw)
    if not isinstance(raw, (list, tuple)):
        raise ConfigError("allowed_origins must be a list of origins like https://shop.example")
    origins = []
    for item in raw:
        if item == "*":
            origins.append("*")
            continue
        origin = normalize_origin(item)
        if origin is None:
            raise ConfigError(
                f"allowed_origins: {item!r} is not an origin (scheme://host[:port], "
                "http or https, no path)"
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


def _url_list(raw: str) -> List[str]:
    return [url.strip() for url in raw.split(",") if url.strip()]


# environment variable -> (key of the ``retraining:`` section, parser)
RETRAINING_ENV_OVERRIDES: Dict[str, Tuple[str, Callable[[str], Any]]] = {
    "RETRAINING_RASA_URLS": ("rasa_urls", _url_list),
    "RETRAINING_LOW_CONFIDENCE_THRESHOLD": ("low_confidence_threshold", float),
    "RETRAINING_KEEP_MODELS": ("keep_models", int),
    "RETRAINING_MAX_ACCURACY_DROP": ("max_accuracy_drop", float),
    # _flag is defined below; resolved when called.
    "RETRAINING_MODEL_SERVER": ("model_server", lambda raw: _flag(raw)),
    "RETRAINING_MODEL_SERVER_TIMEOUT_SECONDS": ("model_server_timeout_seconds", float),
}


def _flag(raw: str) -> bool:
    """An on/off environment value: 1/true/yes/on or 0/false/no/off."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _auto_flag(raw: str) -> Optional[bool]:
    """Like :func:`_flag`, or ``auto`` for None (decided when connecting)."""
    return None if raw.strip().lower() == "auto" else _flag(raw)


# environment variable -> (key of the ``email:`` section, parser)
EMAIL_ENV_OVERRIDES: Dict[str, Tuple[str, Callable[[str], Any]]] = {
    "HANDOFF_SMTP_HOST": ("smtp_host", str),
    "HANDOFF_SMTP_PORT": ("smtp_port", int),
    "HANDOFF_SMTP_USERNAME": ("smtp_username", str),
    "HANDOFF_SMTP_PASSWORD": ("smtp_password", str),
    "HANDOFF_SMTP_STARTTLS": ("smtp_starttls", _auto_flag),
    "HANDOFF_SMTP_TLS": ("smtp_tls", _flag),
    "HANDOFF_MAIL_FROM": ("from_address", str),
    "HANDOFF_MAIL_REPLY_TO": ("reply_to_address", str),
    "HANDOFF_INBOUND_EMAIL_SECRET": ("inbound_secret", str),
    "HANDOFF_RESUME_PAGE_URL": ("resume_page_url", str),
}

_EMAIL_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
MIN_INBOUND_SECRET = 16


@dataclass(frozen=True)
class EmailSettings:
    """Email to customers over SMTP, and their replies through the inbound webhook.

    Email is off while ``smtp_host`` is empty: ticket replies then only reach the chat.

    Attributes:
        smtp_host: The SMTP server (relay or provider); empty disables email.
        smtp_port: Its port (587 submission with STARTTLS, 465 implicit TLS, 25 relay).
        smtp_username: Login; empty sends without authenticating.
        smtp_password: Its password (set it with ``HANDOFF_SMTP_PASSWORD``, not in a file).
        smtp_starttls: Upgrade the connection with STARTTLS: True requires it, False never,
            None (``auto``) when the server offers it.
        smtp_tls: Connect with implicit TLS (port 465); excludes ``smtp_starttls: true``.
        smtp_timeout_seconds: Timeout of the connection and of each SMTP command.
        from_address: The sender customers see.
        from_name: Its display name.
        reply_to_address: Where replies go (default ``from_address``). With an inbound
            secret, each mail's Reply-To is ``local+<ticket>-<signature>@domain`` of it,
            so the inbound webhook knows the ticket and no one can forge another's address.
        resume_page_url: A page embedding the widget; the resume link of a mail opens it
            with ``#resume=<token>`` (default: the service's own ``/demo`` page).
        link_ttl_days: How long a resume link works.
        inbound_secret: The ``key`` of ``POST /api/inbound/email``; empty turns the
            webhook off (404). Also keys the signature of reply addresses.
        max_attempts: Sending attempts of one mail before it is kept as failed.
        retry_base_seconds: Wait before the first retry; doubled for every further one.
        retry_max_seconds: The longest wait between two attempts.
    """

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: Optional[bool] = None
    smtp_tls: bool = False
    smtp_timeout_seconds: float = 30.0
    from_address: str = "support@shop.example"
    from_name: str = "Harbor & Pine Support"
    reply_to_address: str = ""
    resume_page_url: str = "http://127.0.0.1:5080/demo"
    link_ttl_days: int = 30
    inbound_secret: str = field(default="", repr=False)
    max_attempts: int = 6
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0

    @property
    def enabled(self) -> bool:
        """Whether mail is sent at all (an SMTP server is configured)."""
        return bool(self.smtp_host)

    @property
    def inbound_enabled(self) -> bool:
        """Whether the inbound webhook accepts customers' replies."""
        return bool(self.inbound_secret)

    @property
    def replies_to(self) -> str:
        """The address replies go to, before the per-ticket tag is added."""
        return self.reply_to_address or self.from_address


# environment variable -> (key of the ``retention:`` section, parser)
RETENTION_ENV_OVERRIDES: Dict[str, Tuple[str, Callable[[str], Any]]] = {
    "HANDOFF_CUSTOMER_DATA_DAYS": ("customer_data_days", int),
    "HANDOFF_RETENTION_SWEEP_MINUTES": ("sweep_interval_minutes", int),
}


@dataclass(frozen=True)
class RetentionSettings:
    """How long customer data is kept (:mod:`handoff.core.retention`).

    Attributes:
        customer_data_days: A conversation (record, transcript, notes, files, outbox, Rasa
            tracker, review items, the customer's link to it) and a ticket (with its
            thread and notes) are deleted once nothing happened in them for this long.
        sweep_interval_minutes: How often the handoff service looks for such data (one
            instance sweeps at a time, whatever the number of instances).
    """

    customer_data_days: int = 365
    sweep_interval_minutes: int = 60


@dataclass(frozen=True)
class BusinessHours:
    """When CSRs are expected to be at work.

    Attributes:
        timezone: IANA zone name, e.g. ``America/New_York``.
        weekdays: Open days as ``mon`` … ``sun``.
        open: Opening time of day.
        close: Closing time of day (exclusive).
    """

    timezone: str = "America/New_York"
    weekdays: Tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    open: dt.time = dt.time(9, 0)
    close: dt.time = dt.time(18, 0)

    def is_open(self, at: Optional[dt.datetime] = None) -> bool:
        """Whether ``at`` (default: now) falls within business hours."""
        local = (at or dt.datetime.now(dt.timezone.utc)).astimezone(ZoneInfo(self.timezone))
        if WEEKDAYS[local.weekday()] not in self.weekdays:
            return False
        # open == close means around the clock (a 24/7 team, or a test setup).
        return self.open == self.close or self.open <= local.time() < self.close

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly form (served to the console)."""
        return {
            "timezone": self.timezone,
            "weekdays": list(self.weekdays),
            "open": self.open.strftime("%H:%M"),
            "close": self.close.strftime("%H:%M"),
        }


@dataclass(frozen=True)
class RetrainingConfig:
    """Settings of the admins' retraining tools (``python -m bot.retraining``, ``/admin``).

    Attributes:
        project_dir: Bot project whose data, config and ``models/`` are used
            (default: the handoff service's ``project_dir``).
        low_confidence_threshold: A customer message below this intent
            confidence is a review candidate (the page can override it per view).
        reviewed_file: Generated NLU file (relative to ``project_dir``) holding the
            labelled examples and new FAQ examples.
        faq_responses_file: Where new ``utter_faq/<topic>`` answers are appended.
        test_set: Held-out NLU test set both models are scored on.
        keep_models: Models kept in ``models/`` besides the active ones.
        rasa_urls: Every Rasa server a model is activated on (default: ``[rasa_url]``).
        rasa_token: Their ``--auth-token`` (default: ``rasa_token``).
        tracker_key_prefix: ``tracker_store.key_prefix`` of ``endpoints.yml``.
        max_accuracy_drop: A candidate whose test-set intent accuracy or macro-F1
            is lower than the running model's by more than this is "worse" and
            only activated with an explicit override.
        item_ttl_days: A listed review item (masked text and context) is kept
            this long for labelling (default: the top-level ``record_ttl_days``).
        model_server: Rasa servers pull the active model from the handoff service
            (``GET /models/active``, endpoints.yml ``models:``) instead of being sent it with
            ``PUT /model``; activation then waits until every ``rasa_urls`` runs it.
        model_server_timeout_seconds: How long an activation in model-server mode waits for
            every Rasa server to pull and load the model before it fails (and is undone).
        incremental: A training job continues the running model's weights (``rasa train
            --finetune``) unless asked for a full retrain; it trains from scratch anyway when
            Rasa refuses to finetune (config or labels changed) or no model runs.
        finetune_epoch_fraction: The share of the configured epochs an incremental job trains.
    """

    project_dir: Path = REPO_ROOT
    low_confidence_threshold: float = 0.6
    reviewed_file: str = "data/nlu/reviewed.yml"
    faq_responses_file: str = "data/responses/faq.yml"
    test_set: str = "tests/nlu/test_nlu.yml"
    keep_models: int = 5
    rasa_urls: Tuple[str, ...] = ("http://127.0.0.1:5005",)
    rasa_token: str = ""
    tracker_key_prefix: str = "rasa"
    max_accuracy_drop: float = 0.02
    item_ttl_days: int = 30
    model_server: bool = False
    model_server_timeout_seconds: float = 600.0
    incremental: bool = True
    finetune_epoch_fraction: float = 0.2

    def path(self, relative: str) -> Path:
        """A project file named in these settings, as a path."""
        return self.project_dir / relative

    @property
    def models_dir(self) -> Path:
        """Where trained models are kept (the same place ``bot.nlu.training`` uses)."""
        return self.project_dir / "models"


@dataclass(frozen=True)
class TicketSla:
    """The service-level targets of one ticket priority, in business hours.

    Attributes:
        first_reply_hours: Business hours from opening to the first public reply.
        resolution_hours: Business hours from opening to solved.
    """

    first_reply_hours: float
    resolution_hours: float


def _default_ticket_sla() -> Dict[str, TicketSla]:
    return {
        "urgent": TicketSla(1.0, 8.0),
        "high": TicketSla(4.0, 24.0),
        "normal": TicketSla(8.0, 40.0),
        "low": TicketSla(24.0, 80.0),
    }


# tickets.presence_seconds: an open console refreshes every 5 s (handoff.service.routes), so
# fewer than 10 would flicker; handoff.core.presence keeps marks for the longest.
MIN_PRESENCE_SECONDS, MAX_PRESENCE_SECONDS = 10, 86400


@dataclass(frozen=True)
class TicketsConfig:
    """Settings of the ticket inbox (the ``tickets:`` section).

    Attributes:
        sla: Priority -> first-reply and resolution targets, counted in
            ``business_hours`` (see :mod:`handoff.core.sla`).
        offer_when_no_csr_online: In business hours with no CSR's console open, the bot
            offers a ticket instead of queueing the customer for nobody.
        presence_seconds: How recently a console must have been seen to count as open
            (consoles refresh every few seconds; see :mod:`handoff.core.presence`).
    """

    sla: Mapping[str, TicketSla] = field(default_factory=_default_ticket_sla)
    offer_when_no_csr_online: bool = True
    presence_seconds: int = 60


@dataclass(frozen=True)
class WebhookEndpoint:
    """One receiver of the signed lifecycle events (:mod:`handoff.delivery.webhooks`).

    Attributes:
        url: Where events are POSTed (http or https).
        secret_env: The environment variable holding the signing secret; the secret is
            never written in a file.
        events: Event type patterns it wants (``conversation.*``, ``ticket.solved``, ``*``).
        name: Names its consumer group (default: from the URL); keep it when the URL
            changes, or the new URL starts with the events after the change.
    """

    url: str
    secret_env: str
    events: Tuple[str, ...] = ("*",)
    name: str = ""

    @property
    def group(self) -> str:
        """The consumer group delivering to this endpoint, one per endpoint."""
        if self.name:
            return f"webhook:{self.name}"
        return "webhook:" + hashlib.sha256(self.url.encode()).hexdigest()[:16]

    def wants(self, event_type: str) -> bool:
        """Whether an event of ``event_type`` goes to this endpoint."""
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.events)

    def secret(self, env: Optional[Mapping[str, str]] = None) -> str:
        """The signing secret, read from ``secret_env``.

        Raises:
            ConfigError: the variable is unset or too short.
        """
        value = (os.environ if env is None else env).get(self.secret_env, "")
        if len(value) < MIN_WEBHOOK_SECRET:
            raise ConfigError(
                f"webhooks: set {self.secret_env} to a secret of at least "
                f"{MIN_WEBHOOK_SECRET} characters for {self.url}"
            )
        return value


MIN_WEBHOOK_SECRET = 16


@dataclass(frozen=True)
class WebhooksConfig:
    """The ``webhooks:`` section: who hears of every lifecycle event, and how hard we try.

    Attributes:
        endpoints: The receivers; none turns delivery off.
        max_attempts: Attempts of one delivery before it goes to ``handoff:webhook_failed``.
        timeout_seconds: Timeout of one attempt (connect and answer).
        retry_base_seconds: Wait before the first retry; doubled for each further one,
            with random jitter.
        retry_max_seconds: The longest wait between two attempts.
    """

    endpoints: Tuple[WebhookEndpoint, ...] = ()
    max_attempts: int = 8
    timeout_seconds: float = 10.0
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0


@dataclass(frozen=True)
class HandoffConfig:
    """Everything the handoff service needs to know about its environment.

    Attributes:
        environment: ``dev`` allows the built-in secret (with a warning); anything
            else refuses to start without a real one.
        host: Interface to listen on.
        port: Port to listen on.
        redis_url: Redis shared with Rasa's tracker and lock stores.
        secret: HS256 key signing CSR tokens (at least 32 characters outside dev).
        token_ttl_seconds: Lifetime of a CSR token.
        rasa_url: Base URL of ``rasa run --enable-api``; empty disables Rasa calls.
        rasa_token: Rasa's ``--auth-token``.
        rasa_timeout_seconds: Timeout of one call to Rasa.
        resume_action: Action run after a release so the bot greets back;
            empty to skip.
        business_hours: When CSRs are expected.
        sla_seconds: Console highlights queued conversations waiting longer.
        priorities: Escalation reason -> priority.
        default_priority: Priority for reasons not listed.
        default_wait_seconds: Wait estimate per queue position without history.
        max_message_chars: Longest CSR message or note accepted.
        max_request_bytes: Largest HTTP request body accepted.
        max_attachment_bytes: Largest file a customer may attach (413 beyond it).
        max_attachments_per_conversation: Files one conversation may hold (409 beyond it).
        record_ttl_days: Conversation records expire this long after their last change.
        metrics_retention_days: Metric samples older than this are dropped.
        login_max_failures: Failed logins of one username from one address before each
            further attempt from there must wait (2 s, doubling up to the window).
        login_lockout_seconds: Window in which failed logins are counted; the longest wait.
        login_max_failures_per_address: Failed logins from one address (any username)
            before the address is refused for the rest of the window.
        project_dir: Bot project holding ``domain.yml`` and ``data/responses`` (canned responses).
        openapi_file: The OpenAPI document served at ``/openapi.yaml``.
        allowed_origins: Origins (``scheme://host[:port]``) whose pages may open the
            WebSockets, the console's ``/api/events`` and the widget's
            ``/webhooks/widget/ws``: where the console is served and every store site
            embedding the widget. Empty: the service's own address (see
            :meth:`websocket_origins`). ``*`` allows any page.
        retraining: Settings of the admins' retraining tools.
        email: Email to customers (SMTP) and their replies (inbound webhook).
        tickets: Settings of the ticket inbox (SLA targets per priority).
        retention: How long customer data is kept.
        webhooks: Signed, retried POSTs of every lifecycle event to the store's tools.
        redis: Sentinel discovery, pool size, timeouts and retries of the Redis clients.
        log_format: ``text`` or ``json`` (one object per line), for every process.
    """

    environment: str = "dev"
    host: str = "127.0.0.1"
    port: int = 5080
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret: str = DEV_SECRET
    token_ttl_seconds: int = 8 * 3600
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = ""
    rasa_timeout_seconds: float = 10.0
    resume_action: str = "action_handback"
    business_hours: BusinessHours = field(default_factory=BusinessHours)
    sla_seconds: int = 120
    priorities: Mapping[str, str] = field(
        default_factory=lambda: {
            "request_human": "normal",
            "nlu_fallback": "normal",
            "core_fallback": "normal",
            "action_failed": "high",
            "frustrated": "high",
            "complaint": "high",
            "business_rule": "high",
        }
    )
    default_priority: str = "normal"
    default_wait_seconds: int = 120
    max_message_chars: int = 2000
    max_request_bytes: int = 64 * 1024
    max_attachment_bytes: int = 5 * 1024 * 1024
    max_attachments_per_conversation: int = 10
    record_ttl_days: int = 30
    metrics_retention_days: int = 90
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    login_max_failures_per_address: int = 50
    project_dir: Path = REPO_ROOT
    openapi_file: Path = REPO_ROOT / "docs" / "handoff-api.openapi.yaml"
    allowed_origins: Tuple[str, ...] = ()
    retraining: RetrainingConfig = field(default_factory=RetrainingConfig)
    email: EmailSettings = field(default_factory=EmailSettings)
    tickets: TicketsConfig = field(default_factory=TicketsConfig)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    redis: RedisSettings = field(default_factory=RedisSettings)
    log_format: str = "text"

    def websocket_origins(self) -> Tuple[str, ...]:
        """The origins allowed to open a WebSocket, normalised (``allowed_origins``).

        Without a list, the service's own ``http://host:port``, and when it listens on a
        loopback or every address, ``localhost`` and ``127.0.0.1`` at that port: where
        ``make run`` serves the demo store and the console.
        """
        if self.allowed_origins:
            return self.allowed_origins
        host = self.host.strip("[]").lower()
        hosts = {host}
        if host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""):
            hosts = {"127.0.0.1", "localhost"}
        return tuple(sorted(f"http://{h}:{self.port}" for h in hosts))

    def origin_allowed(self, origin: Optional[str]) -> bool:
        """Whether a page from ``origin`` (the ``Origin`` header) may open a WebSocket.

        No header (None) is a client that is not a browser, which the origin check cannot
        concern: allowed (the token still decides). ``null`` and malformed origins are
        refused unless ``*`` is listed.
        """
        if origin is None:
            return True
        allowed = self.websocket_origins()
        return "*" in allowed or normalize_origin(origin) in allowed

    @property
    def is_dev(self) -> bool:
        """Whether this is a developer machine (insecure defaults tolerated)."""
        return self.environment == "dev"

    def check_secret(self) -> None:
        """Refuse an unsafe secret outside dev; warn loudly in dev.

        Raises:
            ConfigError: the secret is the built-in one or too short outside dev.
        """
        weak = self.secret == DEV_SECRET or len(self.secret) < 32
        if weak and not self.is_dev:
            raise ConfigError(
                "HANDOFF_SECRET must be set to a random string of at least 32 "
                f"characters when HANDOFF_ENV={self.environment!r}"
            )
        if weak:
            logger.warning(
                "!!! handoff service is using an insecure token secret; set "
                "HANDOFF_SECRET before exposing it to anyone !!!"
            )


def load_config(
    path: Optional[Path] = None, env: Optional[Mapping[str, str]] = None
) -> HandoffConfig:
    """Read the YAML file, apply environment overrides and validate.

    Args:
        path: The YAML file; default ``$HANDOFF_CONFIG`` or ``handoff.yml`` at the repo root.
            A missing file means "all defaults".
        env: Environment variables; default ``os.environ``.

    Raises:
        ConfigError: a value is missing its expected type or range.
    """
    env = os.environ if env is None else env
    path = Path(path or env.get("HANDOFF_CONFIG") or DEFAULT_CONFIG_FILE)
    values = _read_yaml(path)
    for var, (key, parse) in ENV_OVERRIDES.items():
        if env.get(var, "") != "":
            values[key] = _parse(var, env[var], parse)
    sections = (
        ("retraining", RETRAINING_ENV_OVERRIDES),
        ("email", EMAIL_ENV_OVERRIDES),
        ("retention", RETENTION_ENV_OVERRIDES),
        ("redis", REDIS_ENV_OVERRIDES),
    )
    for name, overrides in sections:
        _override_section(values, name, overrides, env)
    if not values.get("rasa_token"):
        values["rasa_token"] = shared_rasa_token(Path(values.get("project_dir") or REPO_ROOT))
    return from_mapping(values)


def _override_section(
    values: Dict[str, Any],
    name: str,
    overrides: Dict[str, Tuple[str, Callable[[str], Any]]],
    env: Mapping[str, str],
) -> None:
    """Merge the set environment variables of ``overrides`` into the section ``name``.

    The section is copied before it is changed (``values`` may share it with the caller).
    """
    section = values.get(name)
    merged = dict(section) if isinstance(section, Mapping) else section
    for var, (key, parse) in overrides.items():
        if env.get(var, "") != "":
            merged = dict(merged or {})
            merged[key] = _parse(var, env[var], parse)
    if merged is not None:
        values[name] = merged


def shared_rasa_token(project_dir: Path) -> str:
    """The token ``make run`` gave its Rasa, so a CLI in another terminal can reach it ('' if none).

    ``make run`` makes a random ``--auth-token`` unless ``RASA_TOKEN`` is set, and writes it to
    :data:`RASA_TOKEN_FILE` (readable by its user only) while it runs.
    """
    try:
        return (project_dir / RASA_TOKEN_FILE).read_text().strip()
    except OSError:
        return ""


def from_mapping(values: Mapping[str, Any]) -> HandoffConfig:
    """Build and validate a config from plain values (YAML-shaped).

    Raises:
        ConfigError: unknown keys or invalid values.
    """
    values = dict(values)
    known = set(HandoffConfig.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown handoff config keys: {', '.join(sorted(unknown))}")
    if "business_hours" in values:
        values["business_hours"] = _business_hours(values["business_hours"] or {})
    for key in ("project_dir", "openapi_file"):
        if key in values:
            values[key] = Path(values[key])
    if "allowed_origins" in values:
        values["allowed_origins"] = _allowed_origins(values["allowed_origins"])
    if "webhooks" in values:
        values["webhooks"] = _webhooks(values["webhooks"] or {})
    if "tickets" in values:
        values["tickets"] = _tickets(values["tickets"] or {})
    if "redis" in values:
        values["redis"] = redis_settings(values["redis"] or {})
    section = values.pop("retraining", None)
    email = values.pop("email", None)
    retention = values.pop("retention", None)
    config = replace(HandoffConfig(), **values)
    config = replace(config, retraining=_retraining(section or {}, config))
    config = replace(config, email=_email(email or {}, config))
    config = replace(config, retention=_retention(retention or {}))
    _validate(config)
    return config


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _parse(var: str, raw: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{var}={raw!r}: {exc}") from exc


def _business_hours(raw: Mapping[str, Any]) -> BusinessHours:
    if not isinstance(raw, Mapping):
        raise ConfigError("business_hours must be a mapping")
    hours = BusinessHours()
    days = tuple(str(d).lower()[:3] for d in raw.get("weekdays", hours.weekdays))
    if not set(days) <= set(WEEKDAYS):
        raise ConfigError(f"business_hours.weekdays must be among {', '.join(WEEKDAYS)}")
    tz = str(raw.get("timezone", hours.timezone))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"business_hours.timezone: unknown zone {tz!r}") from exc
    return BusinessHours(
        timezone=tz,
        weekdays=days,
        open=_time(raw.get("open", hours.open)),
        close=_time(raw.get("close", hours.close)),
    )


def _retraining(raw: Mapping[str, Any], top: HandoffConfig) -> RetrainingConfig:
    """The ``retraining:`` section; project, Rasa URL and token default to the top-level ones."""
    if not isinstance(raw, Mapping):
        raise ConfigError("retraining must be a mapping")
    values = dict(raw)
    unknown = set(values) - set(RetrainingConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown retraining config keys: {', '.join(sorted(unknown))}")
    values["project_dir"] = Path(values.get("project_dir") or top.project_dir)
    urls = values.get("rasa_urls")
    if urls is None:
        urls = [top.rasa_url] if top.rasa_url else []
    if isinstance(urls, str) or not all(isinstance(u, str) and u for u in urls):
        raise ConfigError("retraining.rasa_urls must be a list of URLs")
    values["rasa_urls"] = tuple(u.rstrip("/") for u in urls)
    values["rasa_token"] = str(values.get("rasa_token") or top.rasa_token)
    values.setdefault("item_ttl_days", top.record_ttl_days)
    try:
        return RetrainingConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"retraining: {exc}") from exc


def _email(raw: Mapping[str, Any], top: HandoffConfig) -> EmailSettings:
    """The ``email:`` section; the resume page defaults to the service's own ``/demo``."""
    if not isinstance(raw, Mapping):
        raise ConfigError("email must be a mapping")
    values = dict(raw)
    unknown = set(values) - set(EmailSettings.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown email config keys: {', '.join(sorted(unknown))}")
    if not values.get("resume_page_url"):
        host = top.host if top.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        values["resume_page_url"] = f"http://{host}:{top.port}/demo"
    for key in ("smtp_host", "smtp_username", "smtp_password", "inbound_secret"):
        if values.get(key) is None:
            values.pop(key, None)
    try:
        return EmailSettings(**values)
    except TypeError as exc:
        raise ConfigError(f"email: {exc}") from exc


def _retention(raw: Mapping[str, Any]) -> RetentionSettings:
    """The ``retention:`` section: whole positive numbers of days and minutes."""
    if not isinstance(raw, Mapping):
        raise ConfigError("retention must be a mapping")
    unknown = set(raw) - set(RetentionSettings.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown retention config keys: {', '.join(sorted(unknown))}")
    settings = RetentionSettings(**raw)
    for name in ("customer_data_days", "sweep_interval_minutes"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"retention.{name} must be a positive integer")
    return settings


def _tickets(raw: Any) -> TicketsConfig:
    """The ``tickets:`` section; a priority left out of ``sla`` keeps its default targets."""
    if not isinstance(raw, Mapping):
        raise ConfigError("tickets must be a mapping")
    unknown = set(raw) - set(TicketsConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown tickets config keys: {', '.join(sorted(unknown))}")
    sla = raw.get("sla") or {}
    if not isinstance(sla, Mapping):
        raise ConfigError("tickets.sla must map priorities to targets")
    targets = _default_ticket_sla()
    for priority, target in sla.items():
        if priority not in PRIORITIES:
            raise ConfigError(f"tickets.sla: {priority!r} is not one of {', '.join(PRIORITIES)}")
        if not isinstance(target, Mapping) or set(target) - set(TicketSla.__dataclass_fields__):
            raise ConfigError(
                f"tickets.sla.{priority} must have first_reply_hours and resolution_hours"
            )
        default = targets[priority]
        first = target.get("first_reply_hours", default.first_reply_hours)
        resolution = target.get("resolution_hours", default.resolution_hours)
        for name, value in (("first_reply_hours", first), ("resolution_hours", resolution)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"tickets.sla.{priority}.{name} must be a positive number")
        if resolution < first:
            raise ConfigError(
                f"tickets.sla.{priority}: resolution_hours must not be shorter than "
                "first_reply_hours"
            )
        targets[priority] = TicketSla(float(first), float(resolution))
    defaults = TicketsConfig()
    offer = raw.get("offer_when_no_csr_online", defaults.offer_when_no_csr_online)
    if not isinstance(offer, bool):
        raise ConfigError("tickets.offer_when_no_csr_online must be true or false")
    seconds = raw.get("presence_seconds", defaults.presence_seconds)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not MIN_PRESENCE_SECONDS <= seconds <= MAX_PRESENCE_SECONDS
    ):
        raise ConfigError(
            "tickets.presence_seconds must be a whole number from "
            f"{MIN_PRESENCE_SECONDS} to {MAX_PRESENCE_SECONDS}"
        )
    return TicketsConfig(sla=targets, offer_when_no_csr_online=offer, presence_seconds=seconds)


def _webhooks(raw: Any) -> WebhooksConfig:
    """The ``webhooks:`` section (the secrets stay in the environment: ``secret_env``)."""
    if not isinstance(raw, Mapping):
        raise ConfigError("webhooks must be a mapping")
    unknown = set(raw) - set(WebhooksConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown webhooks config keys: {', '.join(sorted(unknown))}")
    values = dict(raw)
    endpoints = values.pop("endpoints", None) or []
    if not isinstance(endpoints, list):
        raise ConfigError("webhooks.endpoints must be a list of {url, secret_env, events}")
    config = WebhooksConfig(**values, endpoints=tuple(_webhook(e) for e in endpoints))
    if isinstance(config.max_attempts, bool) or not isinstance(config.max_attempts, int):
        raise ConfigError("webhooks.max_attempts must be a positive integer")
    if config.max_attempts < 1:
        raise ConfigError("webhooks.max_attempts must be a positive integer")
    for name in ("timeout_seconds", "retry_base_seconds", "retry_max_seconds"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"webhooks.{name} must be a positive number of seconds")
    groups = [e.group for e in config.endpoints]
    if len(groups) != len(set(groups)):
        raise ConfigError("webhooks.endpoints: two endpoints share a url or name")
    return config


def _webhook(raw: Any) -> WebhookEndpoint:
    if not isinstance(raw, Mapping) or set(raw) - set(WebhookEndpoint.__dataclass_fields__):
        raise ConfigError("webhooks.endpoints entries are {url, secret_env, events, name}")
    url = raw.get("url")
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"webhooks: {url!r} is not an http(s) URL")
    secret_env = raw.get("secret_env")
    if not isinstance(secret_env, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", secret_env):
        raise ConfigError(f"webhooks: {url}: secret_env must name an environment variable")
    events = raw.get("events", ["*"])
    if isinstance(events, str):
        events = [events]
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ConfigError(f"webhooks: {url}: events must be a list of patterns like ticket.*")
    name = raw.get("name") or ""
    if not isinstance(name, str) or (name and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name)):
        raise ConfigError(f"webhooks: {url}: name must be 1-64 letters, digits or _.-")
    return WebhookEndpoint(url=url, secret_env=secret_env, events=tuple(events), name=name)


def _time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int):
        # YAML 1.1 reads an unquoted 09:00 as sexagesimal minutes (540).
        return dt.time(value // 60, value % 60)
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"business hours: {value!r} is not HH:MM") from exc


def _validate(config: HandoffConfig) -> None:
    problems = []
    if config.default_priority not in PRIORITIES:
        problems.append(f"default_priority must be one of {PRIORITIES}")
    bad = {r: p for r, p in dict(config.priorities).items() if p not in PRIORITIES}
    if bad:
        problems.append(f"priorities must be among {PRIORITIES}: {bad}")
    for name in (
        "port",
        "token_ttl_seconds",
        "sla_seconds",
        "default_wait_seconds",
        "max_message_chars",
        "max_request_bytes",
        "max_attachment_bytes",
        "max_attachments_per_conversation",
        "record_ttl_days",
        "metrics_retention_days",
        "login_max_failures",
        "login_lockout_seconds",
        "login_max_failures_per_address",
    ):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problems.append(f"{name} must be a positive integer")
    if config.business_hours.open > config.business_hours.close:
        problems.append(
            "business_hours.open must be before close (or equal to it: around the clock)"
        )
    if config.log_format not in log_format.FORMATS:
        problems.append(f"log_format must be one of {log_format.FORMATS}")
    if not config.secret:
        problems.append("secret must not be empty")
    problems += _retraining_problems(config.retraining)
    problems += _email_problems(config.email)
    if problems:
        raise ConfigError("invalid handoff config: " + "; ".join(problems))


def _retraining_problems(config: RetrainingConfig) -> List[str]:
    problems = []
    threshold = config.low_confidence_threshold
    if (
        not isinstance(threshold, (int, float))
        or isinstance(threshold, bool)
        or not 0 <= threshold <= 1
    ):
        problems.append("retraining.low_confidence_threshold must be between 0 and 1")
    drop = config.max_accuracy_drop
    if not isinstance(drop, (int, float)) or isinstance(drop, bool) or not 0 <= drop <= 1:
        problems.append("retraining.max_accuracy_drop must be between 0 and 1")
    for name in ("keep_models", "item_ttl_days"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"retraining.{name} must be a positive integer")
    if not isinstance(config.model_server, bool):
        problems.append("retraining.model_server must be true or false")
    if not isinstance(config.incremental, bool):
        problems.append("retraining.incremental must be true or false")
    fraction = config.finetune_epoch_fraction
    if (
        not isinstance(fraction, (int, float))
        or isinstance(fraction, bool)
        or not 0 < fraction <= 1
    ):
        problems.append("retraining.finetune_epoch_fraction must be above 0 and at most 1")
    wait = config.model_server_timeout_seconds
    if not isinstance(wait, (int, float)) or isinstance(wait, bool) or not 0 < wait < 86400:
        problems.append("retraining.model_server_timeout_seconds must be between 0 and 86400")
    for name in ("reviewed_file", "faq_responses_file", "test_set"):
        value = getattr(config, name)
        if (
            not isinstance(value, str)
            or not value
            or Path(value).is_absolute()
            or ".." in Path(value).parts
        ):
            problems.append(f"retraining.{name} must be a path inside the project")
    if not isinstance(config.tracker_key_prefix, str) or not config.tracker_key_prefix.isalnum():
        # Rasa ignores a non-alphanumeric prefix and falls back to its default.
        problems.append("retraining.tracker_key_prefix must be alphanumeric (as Rasa requires)")
    return problems


def _email_problems(config: EmailSettings) -> List[str]:
    problems = []
    for name in ("smtp_host", "smtp_username", "smtp_password", "from_name", "inbound_secret"):
        value = getattr(config, name)
        # A line break in a header value would let it write headers of its own.
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            problems.append(f"email.{name} must be text on one line")
    port = config.smtp_port
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.append("email.smtp_port must be a port number (1-65535)")
    if config.smtp_starttls not in (True, False, None):
        problems.append("email.smtp_starttls must be true, false or null (auto)")
    if not isinstance(config.smtp_tls, bool):
        problems.append("email.smtp_tls must be true or false")
    elif config.smtp_tls and config.smtp_starttls is True:
        problems.append("email.smtp_tls and email.smtp_starttls exclude each other")
    for name in ("smtp_timeout_seconds", "retry_base_seconds", "retry_max_seconds"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            problems.append(f"email.{name} must be a positive number of seconds")
    for name in ("link_ttl_days", "max_attempts"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"email.{name} must be a positive integer")
    for name in ("from_address", "reply_to_address"):
        value = getattr(config, name)
        if not isinstance(value, str) or (value and not _EMAIL_ADDRESS.match(value)):
            problems.append(f"email.{name} must be an email address like support@shop.example")
    if not config.from_address:
        problems.append("email.from_address must not be empty")
    page = config.resume_page_url
    try:
        parts = urlsplit(page) if isinstance(page, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        problems.append("email.resume_page_url must be an http(s) URL without a #fragment")
    secret = config.inbound_secret
    if isinstance(secret, str) and secret and len(secret) < MIN_INBOUND_SECRET:
        problems.append(
            f"email.inbound_secret must be at least {MIN_INBOUND_SECRET} characters (or empty)"
        )
    return problems
