"""The data sets evaluation reads: the public benchmark files and the project's NLU test set.

The benchmarks (Bitext and CLINC150 dev/test, their ``mapping.tsv`` scoring rules; see
``$BENCHMARKS_DIR/README.md``) live outside the repository, in ``../shared/benchmarks`` unless
``$BENCHMARKS_DIR`` says otherwise. Their texts are read at evaluation time only; they never
go into training data.
"""

from __future__ import annotations

import csv
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple, TypeVar

REPO_DIR = Path(__file__).resolve().parents[2]
BENCHMARK_FILES = ("bitext_dev", "bitext_test", "clinc_dev", "clinc_test")
OWN_TEST_SET = Path("tests/nlu/test_nlu.yml")
OWN_TEST_NAME = "own test set"
SAMPLE_SEED = 1729

CORE, UNSUPPORTED, OUT_OF_SCOPE = "core", "unsupported", "out_of_scope"


@dataclass(frozen=True)
class Rule:
    """How mapping.tsv scores one source intent."""

    kind: str  # core | unsupported | out_of_scope
    accepted: FrozenSet[str] = frozenset()


@dataclass(frozen=True)
class Row:
    """One benchmark message."""

    text: str
    source_intent: str
    tags: str = ""


def default_benchmarks_dir() -> Path:
    return Path(os.environ.get("BENCHMARKS_DIR") or REPO_DIR.parent / "shared" / "benchmarks")


def parse_mapping(lines: Iterable[str]) -> Dict[str, Rule]:
    """mapping.tsv content (header ``source_intent kind accepted``) -> source_intent -> Rule."""
    reader = csv.DictReader(lines, delimiter="\t")
    mapping: Dict[str, Rule] = {}
    for record in reader:
        kind = record["kind"].strip()
        if kind not in (CORE, UNSUPPORTED, OUT_OF_SCOPE):
            raise ValueError(f"mapping: unknown kind {kind!r} for {record['source_intent']!r}")
        accepted = frozenset(a for a in (record.get("accepted") or "").split() if a != "-")
        mapping[record["source_intent"].strip()] = Rule(kind, accepted)
    return mapping


def load_mapping(path: Path) -> Dict[str, Rule]:
    with path.open(newline="", encoding="utf-8") as handle:
        return parse_mapping(handle)


def parse_rows(lines: Iterable[str]) -> List[Row]:
    """A benchmark TSV (``text source_intent [tags]``, CSV quoting) -> rows."""
    return [
        Row(record["text"], record["source_intent"].strip(), (record.get("tags") or "").strip())
        for record in csv.DictReader(lines, delimiter="\t")
    ]


def load_rows(path: Path) -> List[Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        return parse_rows(handle)


def load_examples(path: Path) -> List[Tuple[str, str]]:
    """(text, label) pairs of a Rasa NLU YAML file, with full retrieval intent names."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [
        (m.get("text"), m.get("intent_response_key") or m.get("intent"))
        for m in data.intent_examples
    ]


def own_test_rows(path: Path = OWN_TEST_SET) -> List[Row]:
    """The project's NLU test set as rows (its label as the source intent)."""
    return [Row(text, label) for text, label in load_examples(path)]


# --------------------------------------------------------------------------- sampling

T = TypeVar("T")


def stratified_sample(
    items: Sequence[T],
    n: Optional[int],
    key: Callable[[T], str] = lambda row: row.source_intent,
    seed: int = SAMPLE_SEED,
) -> List[T]:
    """A deterministic subset of about ``n`` items with each stratum's share kept.

    Quotas are proportional (largest remainder, ties by stratum name), every stratum keeps at
    least one item when n allows it, and the result keeps the input order.
    """
    if n is None or n >= len(items):
        return list(items)
    if n <= 0:
        return []
    groups: Dict[str, List[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[key(item)].append(index)
    quota = _quotas({name: len(indices) for name, indices in groups.items()}, n)
    rng = random.Random(seed)
    chosen: List[int] = []
    for name in sorted(groups):
        chosen.extend(rng.sample(groups[name], quota[name]))
    return [items[index] for index in sorted(chosen)]


def _quotas(sizes: Dict[str, int], n: int) -> Dict[str, int]:
    """Items to take per stratum: largest remainder, then one for every stratum left empty."""
    total = sum(sizes.values())
    exact = {name: n * size / total for name, size in sizes.items()}
    quota = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(sizes, key=lambda name: (-(exact[name] - quota[name]), name))
    for name in by_remainder[: n - sum(quota.values())]:
        quota[name] += 1
    # Strata rounded down to nothing get one item, taken from the largest quotas.
    for name in sorted(sizes):
        if quota[name] == 0:
            donor = max(sorted(quota), key=lambda other: quota[other])
            if quota[donor] > 1:
                quota[donor] -= 1
                quota[name] = 1
    return quota
