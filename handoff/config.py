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
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from handoff.errors import ConfigError

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
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
    "HANDOFF_PROJECT_DIR": ("project_dir", Path),
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
        return {"timezone": self.timezone, "weekdays": list(self.weekdays),
                "open": self.open.strftime("%H:%M"), "close": self.close.strftime("%H:%M")}


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
        record_ttl_days: Conversation records expire this long after their last change.
        metrics_retention_days: Metric samples older than this are dropped.
        login_max_failures: Failed logins per username before a lockout.
        login_lockout_seconds: Length of that lockout window.
        project_dir: Bot project holding ``domain.yml`` and ``data/responses`` (canned responses).
        openapi_file: The OpenAPI document served at ``/openapi.yaml``.
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
    priorities: Mapping[str, str] = field(default_factory=lambda: {
        "request_human": "normal",
        "nlu_fallback": "normal",
        "core_fallback": "normal",
        "action_failed": "high",
        "frustrated": "high",
        "complaint": "high",
        "business_rule": "high",
    })
    default_priority: str = "normal"
    default_wait_seconds: int = 120
    max_message_chars: int = 2000
    max_request_bytes: int = 64 * 1024
    record_ttl_days: int = 30
    metrics_retention_days: int = 90
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    project_dir: Path = REPO_ROOT
    openapi_file: Path = REPO_ROOT / "docs" / "handoff-api.openapi.yaml"

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
            raise ConfigError("HANDOFF_SECRET must be set to a random string of at least 32 "
                              f"characters when HANDOFF_ENV={self.environment!r}")
        if weak:
            logger.warning("!!! handoff service is using an insecure token secret; set "
                           "HANDOFF_SECRET before exposing it to anyone !!!")


def load_config(path: Optional[Path] = None,
                env: Optional[Mapping[str, str]] = None) -> HandoffConfig:
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
    return from_mapping(values)


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
    config = replace(HandoffConfig(), **values)
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
    return BusinessHours(timezone=tz, weekdays=days,
                         open=_time(raw.get("open", hours.open)),
                         close=_time(raw.get("close", hours.close)))


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
    for name in ("port", "token_ttl_seconds", "sla_seconds", "default_wait_seconds",
                 "max_message_chars", "max_request_bytes", "record_ttl_days",
                 "metrics_retention_days", "login_max_failures", "login_lockout_seconds"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problems.append(f"{name} must be a positive integer")
    if config.business_hours.open > config.business_hours.close:
        problems.append("business_hours.open must be before close (or equal to it: around the clock)")
    if not config.secret:
        problems.append("secret must not be empty")
    if problems:
        raise ConfigError("invalid handoff config: " + "; ".join(problems))
