"""Reading a real Prometheus scrape in tests, with prometheus-client's own parser."""

from __future__ import annotations

from typing import Dict, Mapping

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> Dict[str, Dict[frozenset, float]]:
    """Every sample of a scrape: name -> {frozenset of label items: value}.

    Parsing the whole text also proves it is valid exposition format.
    """
    found: Dict[str, Dict[frozenset, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return found


def value(text: str, name: str, labels: Mapping[str, str] = None) -> float:
    """The value of one sample (0 when the series does not exist yet: a counter not yet used)."""
    return samples(text).get(name, {}).get(frozenset((labels or {}).items()), 0.0)
