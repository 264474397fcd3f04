"""Parse messages with a loaded Rasa ``Agent`` (one at a time, timing each) and score them.

Loading a model needs TensorFlow; nothing here imports it: the caller passes the agent.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

from bot.evaluation.datasets import OWN_TEST_NAME, Row, Rule, load_examples
from bot.evaluation.results import FileResult, ParsedRow
from bot.evaluation.rules import score
from bot.evaluation.scoring import Prediction, Report, label_of


async def parse_timed(agent: Any, text: str) -> Tuple[Dict[str, Any], float]:
    """The raw parse result of one message and the seconds it took."""
    started = time.perf_counter()
    parse = await agent.parse_message(text)
    return parse, time.perf_counter() - started


async def predict(agent: Any, examples: Iterable[Tuple[str, str]]) -> Report:
    """Parse every (text, expected label) example with a loaded Rasa ``Agent``."""
    report = Report()
    for text, expected in examples:
        parse, seconds = await parse_timed(agent, text)
        predicted, confidence = label_of(parse)
        report.predictions.append(Prediction(text, expected, predicted, confidence, seconds))
    return report


def evaluate_file(agent: Any, path: Path) -> Report:
    """Every example of a Rasa NLU YAML file, parsed and scored."""
    return asyncio.run(predict(agent, load_examples(path)))


async def _parse_all(agent: Any, rows: Sequence[Row]) -> List[ParsedRow]:
    parsed = []
    for row in rows:
        parse, seconds = await parse_timed(agent, row.text)
        parsed.append(ParsedRow(row, parse, seconds))
    return parsed


def parse_with(agent: Any, rows: Sequence[Row]) -> List[ParsedRow]:
    """Parse every row with a loaded Rasa Agent (sequentially, timing each message)."""
    return asyncio.run(_parse_all(agent, rows))


def evaluate_benchmark(
    agent: Any, name: str, rows: Sequence[Row], mapping: Mapping[str, Rule]
) -> FileResult:
    """A benchmark file, parsed and scored by the rules of ``mapping``."""
    parsed = parse_with(agent, rows)
    return FileResult(name, parsed, [score(p.row, p.label, mapping) for p in parsed])


def evaluate_own_test_set(agent: Any, rows: Sequence[Row]) -> FileResult:
    """The project's own test set, parsed and scored on plain intent accuracy."""
    parsed = parse_with(agent, rows)
    report = Report(
        [Prediction(p.row.text, p.row.source_intent, *label_of(p.parse), p.seconds) for p in parsed]
    )
    return FileResult(OWN_TEST_NAME, parsed, report=report)
