"""Build the configured order system from settings (``order_system`` in endpoints.yml).

Adapters are imported only when chosen, so a store using one never needs
the other's dependencies at start-up.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping

from actions.orders.adapter import OrderSystem


def order_system_from_config(cfg: Mapping[str, Any]) -> OrderSystem:
    """The order system ``cfg`` describes.

    Args:
        cfg: ``{"type": "sqlite", "path": "var/store.db"}`` or
            ``{"type": "http", "url": "http://...", "timeout_seconds": 5, "api_key": "..."}``.
            A missing type means sqlite, as in ``actions/settings.py``; keys
            meant for the other type are ignored. Values may be strings, as
            environment variables give them.

    Raises:
        ValueError: Unknown type, or a required key missing or invalid.
    """
    kind = str(cfg.get("type") or "sqlite").strip().lower()
    builder = _BUILDERS.get(kind)
    if builder is None:
        valid = ", ".join(sorted(_BUILDERS))
        raise ValueError(f"unknown order_system type {cfg.get('type')!r}; valid types are: {valid}")
    return builder(cfg)


def _sqlite(cfg: Mapping[str, Any]) -> OrderSystem:
    from actions.orders.sqlite_store import SQLiteOrderSystem

    path = _required(cfg, "path", "sqlite")
    return SQLiteOrderSystem(path, create=_flag(cfg.get("create", False)))


def _http(cfg: Mapping[str, Any]) -> OrderSystem:
    from actions.orders.http_client import HttpOrderSystem

    timeout = cfg.get("timeout_seconds", 5.0)
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise ValueError(
            f"order_system timeout_seconds must be a number, got {timeout!r}"
        ) from None
    if timeout <= 0:
        raise ValueError(f"order_system timeout_seconds must be positive, got {timeout}")
    url = _required(cfg, "url", "http")
    return HttpOrderSystem(url, timeout_seconds=timeout, api_key=cfg.get("api_key") or None)


def _required(cfg: Mapping[str, Any], key: str, kind: str) -> str:
    value = str(cfg.get(key) or "").strip()
    if not value:
        raise ValueError(f"order_system of type {kind!r} needs a {key!r}")
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


_BUILDERS: Dict[str, Callable[[Mapping[str, Any]], OrderSystem]] = {
    "sqlite": _sqlite,
    "http": _http,
}
