"""Canned responses for the CSR console: the bot's own response templates and FAQ answers.

Read from the bot project's ``domain.yml`` (or ``domain/*.yml``) and
``data/responses/*.yml``. Those files belong to the bot and change while the
service runs, so they are read on each request and a missing or broken file
only drops its entries (with a warning) instead of failing the console.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Iterable, List

import yaml

logger = logging.getLogger(__name__)


def response_files(project_dir: Path) -> List[Path]:
    """The YAML files that may hold ``responses:``, in a stable order."""
    files = [project_dir / "domain.yml"]
    for folder in (project_dir / "domain", project_dir / "data" / "responses"):
        if folder.is_dir():
            files += sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))
    return [f for f in files if f.is_file()]


def load_canned_responses(project_dir: Path) -> List[Dict[str, Any]]:
    """Every text variation of every response, as console-ready entries.

    Returns:
        ``[{"name", "category" ("faq" | "bot"), "text", "buttons"?, "source"}]``.
    """
    entries: List[Dict[str, Any]] = []
    for path in response_files(project_dir):
        source = _relative(path, project_dir)
        entries += [dict(entry, source=source) for entry in _entries(_responses(path))]
    return entries


def _responses(path: Path) -> Dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        logger.warning("skipping canned responses in %s: %s", path, exc)
        return {}
    responses = data.get("responses") if isinstance(data, dict) else None
    return responses if isinstance(responses, dict) else {}


def _entries(responses: Dict[str, Any]) -> Iterable[Dict[str, Any]]:
    for name, variations in responses.items():
        for variation in variations if isinstance(variations, list) else []:
            if not isinstance(variation, dict) or not isinstance(variation.get("text"), str):
                continue  # image-only or custom payloads cannot be typed by a CSR
            entry = {
                "name": str(name),
                "text": variation["text"],
                "category": "faq" if str(name).startswith("utter_faq/") else "bot",
            }
            buttons = variation.get("buttons")
            if isinstance(buttons, list):
                entry["buttons"] = [
                    {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                    for b in buttons
                    if isinstance(b, dict)
                ]
            yield entry


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
