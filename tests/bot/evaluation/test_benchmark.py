"""The benchmark scoring rules on small hand-made rows (no model, no benchmark files)."""

from __future__ import annotations

import pytest

from bot.evaluation.benchmark import (
    CurvePoint,
    Rate,
    Row,
    Rule,
    accepts,
    aggregate,
    choose_threshold,
    confusions,
    parse_mapping,
    parse_rows,
    per_tag,
    relabel,
    score,
    stratified_sample,
    threshold_curve,
)
from bot.evaluation.scoring import label_of

MAPPING_TSV = """source_intent\tkind\taccepted
track_order\tcore\torder_status
get_refund\tcore\treturn_request refund_status
check_refund_policy\tcore\tfaq
create_account\tunsupported\t-
oos\tout_of_scope\tout_of_scope nlu_fallback
""".splitlines(keepends=True)

MAPPING = parse_mapping(MAPPING_TSV)


def _parse(*ranking, topic=None, selector_key="faq"):
    """A Rasa-like parse result from (intent, confidence) pairs, best first."""
    intents = [{"name": name, "confidence": conf} for name, conf in ranking]
    parse = {"text": "x", "intent": intents[0], "intent_ranking": intents}
    if topic:
        parse["response_selector"] = {
            selector_key: {"response": {"intent_response_key": f"faq/{topic}"}}
        }
    return parse


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


def test_faq_accepts_any_faq_topic_but_nothing_else():
    assert accepts(frozenset({"faq"}), "faq/return_policy")
    assert accepts(frozenset({"faq"}), "faq")
    assert not accepts(frozenset({"faq"}), "faqs")
    assert not accepts(frozenset({"faq"}), "return_request")
    assert accepts(frozenset({"order_status"}), "order_status")


@pytest.mark.parametrize(
    "source, predicted, right, fell_back",
    [
        ("track_order", "order_status", True, False),
        ("track_order", "faq/shipping_times", False, False),
        ("track_order", "nlu_fallback", False, True),
        ("track_order", "out_of_scope", False, True),
        ("get_refund", "refund_status", True, False),
        ("get_refund", "return_request", True, False),
        ("check_refund_policy", "faq/return_policy", True, False),
        ("check_refund_policy", "return_request", False, False),
        # unsupported: anything but a transaction on the order is safe, including the fallback
        ("create_account", "faq/account_management", True, False),
        ("create_account", "nlu_fallback", True, True),
        ("create_account", "greet", True, False),
        ("create_account", "order_status", False, False),
        ("create_account", "cancel_order", False, False),
        ("create_account", "refund_status", False, False),
        ("create_account", "return_request", False, False),
        # out of scope: only the fallback or out_of_scope are right
        ("oos", "nlu_fallback", True, True),
        ("oos", "out_of_scope", True, True),
        ("oos", "faq/contact", False, False),
        ("oos", "greet", False, False),
    ],
)
def test_score_follows_the_benchmark_rules(source, predicted, right, fell_back):
    outcome = score(Row("some text", source, "BL"), predicted, MAPPING)
    assert (outcome.right, outcome.fell_back) == (right, fell_back)
    assert outcome.kind == MAPPING[source].kind
    assert outcome.tags == "BL"


def test_score_names_an_unmapped_source_intent():
    with pytest.raises(KeyError, match="not_mapped"):
        score(Row("x", "not_mapped"), "greet", MAPPING)


def _outcomes(*pairs, tags=None):
    tags = tags or [""] * len(pairs)
    return [score(Row("t", s, tag), p, MAPPING) for (s, p), tag in zip(pairs, tags, strict=True)]


def test_aggregate_rates():
    outcomes = _outcomes(
        ("track_order", "order_status"),
        ("track_order", "nlu_fallback"),
        ("check_refund_policy", "faq/return_policy"),
        ("get_refund", "out_of_scope"),
        ("create_account", "faq/account_management"),
        ("create_account", "order_status"),
        ("oos", "nlu_fallback"),
        ("oos", "out_of_scope"),
        ("oos", "greet"),
    )
    scores = aggregate(outcomes)
    assert scores.core_accuracy == Rate(2, 4)
    assert scores.false_fallback == Rate(2, 4)  # both the fallback and out_of_scope count
    assert scores.unsupported_safe == Rate(1, 2)
    assert scores.oos_recall == Rate(2, 3)


def test_aggregate_of_a_file_without_a_kind_has_no_rate():
    scores = aggregate(_outcomes(("oos", "nlu_fallback")))
    assert scores.core_accuracy.value is None
    assert str(scores.core_accuracy) == "–"
    assert str(scores.oos_recall) == "100.0% (1/1)"


def test_a_message_counts_for_every_letter_of_its_tags():
    outcomes = _outcomes(
        ("track_order", "order_status"),
        ("track_order", "greet"),
        ("create_account", "greet"),
        tags=["BZ", "BQZ", "KQ"],
    )
    assert per_tag(outcomes) == {"B": Rate(1, 2), "K": Rate(1, 1), "Q": Rate(1, 2), "Z": Rate(1, 2)}


def test_confusions_count_wrong_outcomes_most_frequent_first():
    outcomes = _outcomes(
        ("track_order", "greet"),
        ("track_order", "greet"),
        ("oos", "faq/contact"),
        ("track_order", "order_status"),
        ("create_account", "order_status"),
    )
    assert confusions(outcomes) == [
        (("track_order", "greet"), 2),
        (("create_account", "order_status"), 1),
        (("oos", "faq/contact"), 1),
    ]
    assert confusions(outcomes, top=1) == [(("track_order", "greet"), 2)]


def test_relabel_applies_the_threshold_to_the_top_non_fallback_intent():
    parse = _parse(("order_status", 0.6), ("cancel_order", 0.2))
    assert relabel(parse, 0.0) == "order_status"
    assert relabel(parse, 0.6) == "order_status"  # Rasa falls back only strictly below
    assert relabel(parse, 0.65) == "nlu_fallback"


def test_relabel_undoes_a_fallback_the_model_already_applied():
    live = _parse(("nlu_fallback", 0.55), ("order_status", 0.5), ("cancel_order", 0.2))
    assert label_of(live)[0] == "nlu_fallback"
    assert relabel(live, 0.45) == "order_status"
    assert relabel(live, 0.55) == "nlu_fallback"


def test_relabel_keeps_the_ambiguity_rule():
    parse = _parse(("order_status", 0.48), ("cancel_order", 0.44))
    assert relabel(parse, 0.3) == "order_status"
    assert relabel(parse, 0.3, ambiguity_threshold=0.08) == "nlu_fallback"


@pytest.mark.parametrize("selector_key", ["faq", "default"])
def test_relabel_and_label_of_name_the_faq_topic(selector_key):
    parse = _parse(("faq", 0.9), ("greet", 0.05), topic="warranty", selector_key=selector_key)
    assert label_of(parse)[0] == "faq/warranty"
    assert relabel(parse, 0.5) == "faq/warranty"


def test_threshold_curve_and_choice():
    core_side = [
        (Row("a", "track_order"), _parse(("order_status", 0.9), ("greet", 0.05))),
        (Row("b", "track_order"), _parse(("order_status", 0.5), ("greet", 0.1))),
        (
            Row("c", "check_refund_policy"),
            _parse(("faq", 0.7), ("greet", 0.1), topic="return_policy"),
        ),
    ]
    oos_side = [
        (Row("x", "oos"), _parse(("greet", 0.4), ("thank", 0.1))),
        (Row("y", "oos"), _parse(("faq", 0.6), ("greet", 0.1), topic="contact")),
    ]
    curve = threshold_curve(oos_side, core_side, MAPPING, [0.0, 0.45, 0.55, 0.75])
    assert [p.oos_recall for p in curve] == [Rate(0, 2), Rate(1, 2), Rate(1, 2), Rate(2, 2)]
    assert [p.false_fallback for p in curve] == [Rate(0, 3), Rate(0, 3), Rate(1, 3), Rate(2, 3)]
    assert [p.core_accuracy for p in curve] == [Rate(3, 3), Rate(3, 3), Rate(2, 3), Rate(1, 3)]
    assert choose_threshold(curve, 0.05, recall_slack=0).threshold == 0.45
    # 0.45 and 0.55 tie on recall: the one with fewer false fallbacks wins
    assert choose_threshold(curve, 0.34, recall_slack=0).threshold == 0.45
    assert choose_threshold(curve, 1.0, recall_slack=0).threshold == 0.75


def test_choose_threshold_breaks_ties_by_fewer_false_fallbacks_and_none_if_all_too_high():
    points = [
        CurvePoint(0.3, Rate(8, 10), Rate(2, 100), Rate(90, 100)),
        CurvePoint(0.4, Rate(8, 10), Rate(1, 100), Rate(90, 100)),
        CurvePoint(0.5, Rate(9, 10), Rate(6, 100), Rate(88, 100)),
    ]
    assert choose_threshold(points, 0.05, recall_slack=0).threshold == 0.4
    assert choose_threshold(points[2:], 0.05) is None


def test_a_recall_within_the_slack_of_the_best_ties_and_fewer_false_fallbacks_win():
    curve = [
        CurvePoint(0.55, Rate(90, 100), Rate(10, 450), Rate(430, 450)),
        CurvePoint(0.85, Rate(92, 100), Rate(14, 450), Rate(426, 450)),
        CurvePoint(0.90, Rate(93, 100), Rate(15, 450), Rate(425, 450)),
        CurvePoint(0.95, Rate(93, 100), Rate(20, 450), Rate(420, 450)),
    ]
    assert choose_threshold(curve, 0.05).threshold == 0.85  # 92 is one message short of 93
    assert choose_threshold(curve, 0.05, recall_slack=0).threshold == 0.90
    assert choose_threshold(curve, 0.05, recall_slack=3).threshold == 0.55
    # a recall two messages short is not a tie
    assert choose_threshold(curve[:1] + curve[2:], 0.05).threshold == 0.90


def test_choose_threshold_keeps_the_configured_one_when_nothing_tells_them_apart():
    plateau = [CurvePoint(t, Rate(8, 10), Rate(0, 100), Rate(90, 100)) for t in (0.0, 0.3, 0.5)]
    assert choose_threshold(plateau, 0.05, current=0.55).threshold == 0.5
    assert choose_threshold(plateau, 0.05, current=0.3).threshold == 0.3
    assert choose_threshold(plateau, 0.05).threshold == 0.0


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
