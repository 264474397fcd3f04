"""An admin's decision on a review item, and the reviewed NLU file it ends up in.

Decisions are kept in Redis (so the review list knows what is done); every
decision except "ignore" puts the masked message into the generated NLU file
under its intent, where the next training picks it up. Only text that passes the
shared text rule may become training data: an old item holding a control character
is refused with a message saying to ignore it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from redis.asyncio import Redis

from bot.evaluation.scoring import FALLBACK
from bot.retraining import data_files, inputs, keys, nlu_data
from bot.retraining.errors import InvalidLabel, ItemNotFound
from bot.retraining.review import ReviewItem, build_review, remembered_item
from handoff.core.settings import RetrainingConfig

ACTIONS = ("confirm", "relabel", "out_of_scope", "ignore")
OUT_OF_SCOPE = "out_of_scope"
RETRIEVAL_INTENTS = ("faq",)
ITEM_ID = re.compile(r"[0-9a-f]{16}")  # review.item_id: a hash, never anything else


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
            another intent already, or holds a character no data file can.
        ItemNotFound: no review item has this id.
        DataFileInvalid: a data file on disk cannot be read (409, names file and line).
        TrainingDataRefused: Rasa could not read the new reviewed file (the old one stays).
    """
    action = inputs.one_of(action, "action", InvalidLabel, ACTIONS)
    item = await find_item(redis, config, item_id)
    target = _target_intent(config, item, action, intent)
    # In a thread: Rasa's check of the new file takes a moment; the data_files lock orders writes.
    await asyncio.to_thread(_write_decision, config, item.text, target)
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


def _write_decision(config: RetrainingConfig, text: str, target: Optional[str]) -> None:
    """Put ``text`` under ``target`` in the reviewed file, or take it out (``None``)."""
    reviewed, root = config.path(config.reviewed_file), config.project_dir
    if target is None:
        nlu_data.update_examples(reviewed, remove=[text], root=root)
        return
    inputs.training_text(nlu_data.clean_text(text), InvalidLabel)
    with data_files.editing():  # checked and written as one step, like a FAQ
        known = nlu_data.hand_written_examples(root, reviewed)
        problem = nlu_data.conflict(text, target, known)
        if problem:
            existing = known[nlu_data.normalise(text)][0]
            raise InvalidLabel(f"{problem}; relabel it as {existing} or fix the hand-written data")
        nlu_data.update_examples(reviewed, add={text: target}, root=root)


async def find_item(redis: Redis, config: RetrainingConfig, item_id: str) -> ReviewItem:
    """The review item with this id: as last listed, else from a full scan of the trackers.

    Raises:
        ItemNotFound: no logged message has this id.
    """
    if not isinstance(item_id, str) or not ITEM_ID.fullmatch(item_id):
        shown = repr(item_id)[:40] if isinstance(item_id, str) else "none"
        raise ItemNotFound(f"no review item {shown}: an id is 16 hexadecimal digits")
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
    domain = _yaml(config.path("domain.yml"), config.project_dir)
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
        for name in _yaml(path, config.project_dir).get("responses") or {}:
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
    elif not intent:
        raise InvalidLabel("relabel needs the intent to use")
    else:
        hint = "an intent of domain.yml or faq/<topic>"
        intent = inputs.name(intent, "intent", InvalidLabel, inputs.INTENT, hint=hint)
    if intent not in known_intents(config):
        raise InvalidLabel(f"unknown intent {intent!r}: use an intent of domain.yml or faq/<topic>")
    return intent


def _intent_name(entry: Any) -> str:
    # domain.yml lists intents as names or as {name: {use_entities: ...}}
    return next(iter(entry)) if isinstance(entry, dict) else str(entry)


def _yaml(path: Path, root: Path) -> Dict[str, Any]:
    """A project file's YAML (``{}`` if missing); DataFileInvalid names the line if it is bad."""
    return data_files.read_mapping(path, root)
