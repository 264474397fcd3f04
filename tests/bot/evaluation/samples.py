"""Hand-made benchmark data for the evaluation tests: a small mapping.tsv and Rasa-like parses."""

from __future__ import annotations

from typing import Any, Dict

from bot.evaluation.datasets import parse_mapping

MAPPING_TSV = """source_intent\tkind\taccepted
track_order\tcore\torder_status
get_refund\tcore\treturn_request refund_status
check_refund_policy\tcore\tfaq
create_account\tunsupported\t-
oos\tout_of_scope\tout_of_scope nlu_fallback
""".splitlines(keepends=True)

MAPPING = parse_mapping(MAPPING_TSV)


def rasa_parse(*ranking, topic=None, selector_key="faq") -> Dict[str, Any]:
    """A Rasa-like parse result from (intent, confidence) pairs, best first."""
    intents = [{"name": name, "confidence": conf} for name, conf in ranking]
    result = {"text": "x", "intent": intents[0], "intent_ranking": intents}
    if topic:
        result["response_selector"] = {
            selector_key: {"response": {"intent_response_key": f"faq/{topic}"}}
        }
    return result
