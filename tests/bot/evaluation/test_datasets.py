"""Reading the benchmark files and sampling them (hand-made lines, no benchmark files)."""

from __future__ import annotations

import pytest

from bot.evaluation.datasets import Row, Rule, parse_mapping, parse_rows, stratified_sample
from tests.bot.evaluation.samples import MAPPING


def test_mapping_is_parsed_with_kinds_and_accepted_intents():
    assert MAPPING["get_refund"] == Rule("core", frozenset({"return_request", "refund_status"}))
    assert MAPPING["create_account"] == Rule("unsupported", frozenset())
    assert MAPPING["oos"].kind == "out_of_scope"


def test_mapping_rejects_an_unknown_kind():
    with pytest.raises(ValueError):
        parse_mapping(["source_intent\tkind\taccepted\n", "x\tmaybe\t-\n"])


def test_rows_are_read_with_csv_quoting_and_optional_tags():
    rows = parse_rows(["text\tsource_intent\ttags\n", "where is my order\ttrack_order\tBIL\n"])
    assert rows == [Row("where is my order", "track_order", "BIL")]
    clinc = parse_rows(["text\tsource_intent\n", '"play ""yesterday"" please"\toos\n'])
    assert clinc == [Row('play "yesterday" please', "oos", "")]


def test_stratified_sample_is_deterministic_proportional_and_ordered():
    rows = (
        [Row(f"a{i}", "a") for i in range(60)]
        + [Row(f"b{i}", "b") for i in range(30)]
        + [Row(f"c{i}", "c") for i in range(10)]
    )
    sample = stratified_sample(rows, 20)
    assert sample == stratified_sample(rows, 20)
    assert len(sample) == 20
    counts = {k: sum(r.source_intent == k for r in sample) for k in "abc"}
    assert counts == {"a": 12, "b": 6, "c": 2}
    assert sample == [r for r in rows if r in sample]  # input order kept
    assert stratified_sample(rows, None) == rows
    assert stratified_sample(rows, 500) == rows


def test_stratified_sample_keeps_every_small_stratum():
    rows = [Row(f"a{i}", "a") for i in range(98)] + [Row("b", "b"), Row("c", "c")]
    sample = stratified_sample(rows, 10)
    assert len(sample) == 10
    assert {r.source_intent for r in sample} == {"a", "b", "c"}
