"""Settings of the handoff service, read once from ``handoff.yml`` and the environment.

The YAML file holds the defaults an operator edits; environment variables
override single values per deployment (see ``ENV_OVERRIDES``). The result is
validated once, in :func:`load_config`, so the rest of the service can trust it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from handoff.core.errors import ConfigError

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
}


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

    def path(self, relative: str) -> Path:
        """A project file named in these settings, as a path."""
        return self.project_dir / relative

    @property
    def models_dir(self) -> Path:
        """Where trained models are kept (the same place ``bot.nlu.training`` uses)."""
        return self.project_dir / "models"


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
    section = values.get("retraining")
    retraining = dict(section) if isinstance(section, Mapping) else section
    for var, (key, parse) in RETRAINING_ENV_OVERRIDES.items():
        if env.get(var, "") != "":
            retraining = dict(retraining or {})
            retraining[key] = _parse(var, env[var], parse)
    if retraining is not None:
        values["retraining"] = retraining
    if not values.get("rasa_token"):
        values["rasa_token"] = shared_rasa_token(Path(values.get("project_dir") or REPO_ROOT))
    return from_mapping(values)


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
    section = values.pop("retraining", None)
    config = replace(HandoffConfig(), **values)
    config = replace(config, retraining=_retraining(section or {}, config))
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
    if not config.secret:
        problems.append("secret must not be empty")
    problems += _retraining_problems(config.retraining)
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
