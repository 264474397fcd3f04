"""New FAQ entries (e.g. from a CSR's answer): examples to the reviewed file, answer to the
responses.

The responses file is hand-written (its comments explain the store's rules), so
the answer is appended with ruamel.yaml's round trip, which keeps comments,
quoting and line layout of everything else.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, List

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from bot.retraining import nlu_data
from bot.retraining.errors import InvalidFaq
from bot.retraining.labels import faq_topics
from handoff.core.redaction import mask_transcript_text
from handoff.core.settings import RetrainingConfig

TOPIC = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
MAX_TOPIC = 48
MIN_EXAMPLES = 2
MAX_ANSWER = 2000


@dataclass(frozen=True)
class FaqEntry:
    """A FAQ topic added from the admin tools.

    Attributes:
        topic: ``snake_case`` name.
        intent: ``faq/<topic>``, the label of its examples.
        response: ``utter_faq/<topic>``, the name of its answer.
        examples: The (masked) example questions written to the reviewed file.
        answer: The answer written to the responses file.
    """

    topic: str
    intent: str
    response: str
    examples: List[str]
    answer: str

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def add_faq(config: RetrainingConfig, topic: str, examples: List[str], answer: str) -> FaqEntry:
    """Add ``faq/<topic>`` with its examples and answer; the next training learns it.

    Raises:
        InvalidFaq: the topic is not snake_case or exists already, fewer than two
            distinct examples, an example that belongs to another intent, or an
            empty answer.
    """
    topic = _check_topic(config, topic)
    texts = _check_examples(config, f"faq/{topic}", examples)
    answer = _check_answer(answer)
    # Answer first: examples without an answer would train a topic the bot cannot reply to.
    _append_answer(config, f"utter_faq/{topic}", answer)
    nlu_data.update_examples(
        config.path(config.reviewed_file), add={text: f"faq/{topic}" for text in texts}
    )
    return FaqEntry(topic, f"faq/{topic}", f"utter_faq/{topic}", texts, answer)


def _check_topic(config: RetrainingConfig, topic: Any) -> str:
    if not isinstance(topic, str) or not TOPIC.match(topic) or len(topic) > MAX_TOPIC:
        raise InvalidFaq(
            f"topic must be snake_case (a-z, 0-9, _), at most {MAX_TOPIC} characters, not {topic!r}"
        )
    if topic in faq_topics(config):
        raise InvalidFaq(f"faq/{topic} exists already; pick another topic")
    return topic


def _check_examples(config: RetrainingConfig, intent: str, examples: Any) -> List[str]:
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise InvalidFaq("examples must be a list of strings")
    unique = {}
    for example in examples:
        text = nlu_data.clean_text(example)
        if text:
            unique.setdefault(nlu_data.normalise(text), text)
    if len(unique) < MIN_EXAMPLES:
        raise InvalidFaq(f"give at least {MIN_EXAMPLES} different example questions")
    known = nlu_data.hand_written_examples(config.project_dir, config.path(config.reviewed_file))
    known.update(_reviewed(config))
    for text in unique.values():
        problem = nlu_data.conflict(text, intent, known)
        if problem:
            raise InvalidFaq(problem)
    return sorted(unique.values(), key=str.lower)


def _reviewed(config: RetrainingConfig) -> Dict[str, Any]:
    path = config.path(config.reviewed_file)
    return {
        nlu_data.normalise(t): (intent, path.relative_to(config.project_dir))
        for intent, texts in nlu_data.read_examples(path).items()
        for t in texts
    }


def _check_answer(answer: Any) -> str:
    if not isinstance(answer, str) or not answer.strip():
        raise InvalidFaq("the answer must not be empty")
    if len(answer) > MAX_ANSWER:
        raise InvalidFaq(f"the answer must be at most {MAX_ANSWER} characters")
    # Customers read it: never a card number someone pasted into a CSR reply.
    return mask_transcript_text(answer.strip())


def _append_answer(config: RetrainingConfig, response: str, answer: str) -> None:
    path = config.path(config.faq_responses_file)
    yaml = YAML()  # round trip: comments and layout of the hand-written file stay
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the existing long answers
    yaml.indent(mapping=2, sequence=4, offset=2)
    if path.exists():
        data = yaml.load(path.read_text()) or CommentedMap()
    else:
        data = CommentedMap(version="3.1")
    responses = data.setdefault("responses", CommentedMap())
    if response in responses:
        raise InvalidFaq(f"{response} exists already in {config.faq_responses_file}")
    variants = CommentedSeq([CommentedMap(text=DoubleQuotedScalarString(answer))])
    responses[response] = variants
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        yaml.dump(data, out)
