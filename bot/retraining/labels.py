"""An admin's decision on a review item, and the reviewed NLU file it ends up in.

Decisions are kept in Redis (so the review list knows what is done); every
decision except "ignore" puts the masked message into the generated NLU file
under its intent, where the next training picks it up.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

import yaml
from redis.asyncio import Redis

from bot.evaluation.scoring import FALLBACK
from bot.retraining import keys, nlu_data
from bot.retraining.errors import InvalidLabel, ItemNotFound
from bot.retraining.review import ReviewItem, build_review, remembered_item
from handoff.core.settings import RetrainingConfig

ACTIONS = ("confirm", "relabel", "out_of_scope", "ignore")
OUT_OF_SCOPE = "out_of_scope"
RETRIEVAL_INTENTS = ("faq",)


@dataclass(frozen=True)
class Decision:
    """What an admin decided about one review item.

    Attributes:
        item_id: The review item.
        action: ``confirm``, ``relabel``, ``out_of_scope`` or ``ignore``.
        intent: The intent the text was written under (None for ``ignore``).
        text: The masked text as written to the training data.
        by: Who decided.
        at: When (ISO 8601).
    """

    item_id: str
    action: str
    intent: Optional[str]
    text: str
    by: Optional[str]
    at: str

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


async def label(
    redis: Redis,
    config: RetrainingConfig,
    item_id: str,
    action: str,
    intent: Optional[str] = None,
    by: Optional[str] = None,
) -> Decision:
    """Decide about a review item and update the reviewed NLU file.

    Raises:
        InvalidLabel: unknown action; relabel without a known intent; confirm
            without a predicted intent; the text is a hand-written example of
            another intent already.
        ItemNotFound: no review item has this id.
    """
    if action not in ACTIONS:
        raise InvalidLabel(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    item = await find_item(redis, config, item_id)
    target = _target_intent(config, item, action, intent)
    reviewed = config.path(config.reviewed_file)
    if target is not None:
        known = nlu_data.hand_written_examples(config.project_dir, reviewed)
        problem = nlu_data.conflict(item.text, target, known)
        if problem:
            existing = known[nlu_data.normalise(item.text)][0]
            raise InvalidLabel(f"{problem}; relabel it as {existing} or fix the hand-written data")
        nlu_data.update_examples(reviewed, add={item.text: target})
    else:
        nlu_data.update_examples(reviewed, remove=[item.text])
    decision = Decision(
        item.id,
        action,
        target,
        nlu_data.clean_text(item.text),
        by,
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    await redis.hset(keys.DECISIONS, item.id, json.dumps(decision.to_dict()))
    return decision


async def find_item(redis: Redis, config: RetrainingConfig, item_id: str) -> ReviewItem:
    """The review item with this id: as last listed, else from a full scan of the trackers.

    Raises:
        ItemNotFound: no logged message has this id.
    """
    if not isinstance(item_id, str) or not item_id:
        raise ItemNotFound("a review item id is required")
    item = await remembered_item(redis, item_id)
    if item is not None:
        return item
    # Not listed yet (e.g. a CLI user copying an id from another machine's list):
    # look at every logged message, whatever the threshold.
    for candidate in await build_review(redis, config, threshold=1.0, include_decided=True):
        if candidate.id == item_id:
            return candidate
    raise ItemNotFound(f"no review item {item_id!r}")


def known_intents(config: RetrainingConfig) -> List[str]:
    """Intents a message may be labelled with: the domain's, and every ``faq/<topic>``.

    A bare retrieval intent (``faq``) is left out: training data needs the topic.
    """
    domain = _yaml(config.path("domain.yml"))
    intents = [_intent_name(i) for i in domain.get("intents") or []]
    intents = [i for i in intents if i not in RETRIEVAL_INTENTS]
    topics = set(faq_topics(config))
    return sorted(set(intents)) + sorted(f"faq/{t}" for t in topics)


def faq_topics(config: RetrainingConfig) -> List[str]:
    """Topics that have an answer (``utter_faq/<topic>``) in the domain or the FAQ responses
    file.
    """
    topics = set()
    for path in (config.path("domain.yml"), config.path(config.faq_responses_file)):
        for name in _yaml(path).get("responses") or {}:
            if str(name).startswith("utter_faq/"):
                topics.add(str(name)[len("utter_faq/") :])
    return sorted(topics)


def _target_intent(
    config: RetrainingConfig, item: ReviewItem, action: str, intent: Optional[str]
) -> Optional[str]:
    if action == "ignore":
        return None
    if action == OUT_OF_SCOPE:
        return OUT_OF_SCOPE
    if action == "confirm":
        predicted = item.predicted_intent
        if not predicted or predicted == FALLBACK or predicted in RETRIEVAL_INTENTS:
            raise InvalidLabel(
                "the bot predicted no usable intent for this message; pick one with relabel"
            )
        intent = predicted
    if not intent:
        raise InvalidLabel("relabel needs the intent to use")
    if intent not in known_intents(config):
        raise InvalidLabel(f"unknown intent {intent!r}: use an intent of domain.yml or faq/<topic>")
    return intent


def _intent_name(entry: Any) -> str:
    # domain.yml lists intents as names or as {name: {use_entities: ...}}
    return next(iter(entry)) if isinstance(entry, dict) else str(entry)


def _yaml(path) -> Dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {}
