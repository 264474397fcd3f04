"""Settings of the action server, read once from the project's files and the environment.

Files hold the defaults a store edits (``endpoints.yml`` for the order system,
``returns_policy.yml`` for the return policy); environment variables override
them per deployment. docs/configuration.md documents every key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import yaml

_ORDER_SYSTEM_ENV = {
    "type": "ORDER_SYSTEM_TYPE",
    "path": "ORDER_DB_PATH",
    "url": "ORDER_API_URL",
    "api_key": "ORDER_API_KEY",
    "timeout_seconds": "ORDER_API_TIMEOUT_SECONDS",
}


@dataclass(frozen=True)
class ActionSettings:
    """Everything the actions need to know about their environment."""

    project_dir: Path
    order_system: Dict[str, Any]
    returns_policy_file: Path


def load_settings(env: Optional[Mapping[str, str]] = None) -> ActionSettings:
    """Read ``endpoints.yml`` and the environment (``os.environ`` by default)."""
    env = os.environ if env is None else env
    project_dir = Path(env.get("BOT_PROJECT_DIR", ".")).resolve()
    endpoints_file = Path(env.get("ENDPOINTS_FILE", project_dir / "endpoints.yml"))
    order_system = dict(_read_yaml(endpoints_file).get("order_system") or {})
    for key, var in _ORDER_SYSTEM_ENV.items():
        if env.get(var):
            order_system[key] = env[var]
    if order_system.get("type", "sqlite") == "sqlite":
        order_system["path"] = str(project_dir / order_system.get("path", "var/demo_store.db"))
    policy_file = Path(env.get("RETURNS_POLICY_FILE", project_dir / "returns_policy.yml"))
    return ActionSettings(project_dir, order_system, policy_file)


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {}
