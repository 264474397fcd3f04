"""New FAQ entries (e.g. from a CSR's answer): examples to the reviewed file, answer to the
responses.

The responses file is hand-written (its comments explain the store's rules), so
the answer is appended with ruamel.yaml's round trip, which keeps comments,
quoting and line layout of everything else. Both files are written through
:mod:`bot.retraining.data_files`: each is checked with Rasa's reader before either
replaces the old one, so a refused entry leaves both byte-identical.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from bot.retraining import data_files, inputs, nlu_data
from bot.retraining.errors import DataFileInvalid, InvalidFaq
from bot.retraining.labels import faq_topics
from handoff.core.redaction import mask_card_and_id_numbers
from handoff.core.settings import RetrainingConfig

if TYPE_CHECKING:
    from rasa.shared.nlu.training_data.training_data import TrainingData

TOPIC = inputs.TOPIC
MAX_TOPIC = 48
MIN_EXAMPLES = 2
MAX_EXAMPLES = 100
MAX_EXAMPLE = 2000  # the longest customer message: "make a FAQ of this question" always fits
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
            distinct examples, an example that belongs to another intent, an
            empty answer, or a text with a control character.
        DataFileInvalid: the responses or the reviewed file on disk cannot be read.
        TrainingDataRefused: Rasa could not read a new file back (both stay as they were).
    """
    answer = _check_answer(answer)
    with data_files.editing():
        topic = _check_topic(config, topic)
        intent, response = f"faq/{topic}", f"utter_faq/{topic}"
        texts = _check_examples(config, intent, examples)
        reviewed = config.path(config.reviewed_file)
        added = nlu_data.updated_examples(
            reviewed, add={text: intent for text in texts}, root=config.project_dir
        )
        # Both or neither: examples without an answer train a topic the bot cannot reply to.
        data_files.write_all(
            [_answer_change(config, response, answer), nlu_data.change(reviewed, added)],
            root=config.project_dir,
        )
    return FaqEntry(topic, intent, response, texts, answer)


def _check_topic(config: RetrainingConfig, topic: Any) -> str:
    hint = "snake_case (a-z, 0-9, _)"
    topic = inputs.name(topic, "topic", InvalidFaq, TOPIC, hint=hint, max_chars=MAX_TOPIC)
    if topic in faq_topics(config):
        raise InvalidFaq(f"faq/{topic} exists already; pick another topic")
    return topic


def _check_examples(config: RetrainingConfig, intent: str, examples: Any) -> List[str]:
    unique = {}
    for example in _example_texts(examples):
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


def _example_texts(examples: Any) -> List[str]:
    """The examples as text, each checked with the shared rule; blank lines are skipped."""
    if not isinstance(examples, list):
        raise InvalidFaq("`examples` must be a list of strings")
    if len(examples) > MAX_EXAMPLES:
        raise InvalidFaq(f"give at most {MAX_EXAMPLES} example questions, not {len(examples)}")
    texts = []
    for n, example in enumerate(examples):
        if not isinstance(example, str):
            raise InvalidFaq(f"`examples[{n}]` must be a string, not {type(example).__name__}")
        field = f"examples[{n}]"
        texts.append(inputs.text(example, field, InvalidFaq, max_chars=MAX_EXAMPLE, required=False))
    return texts


def _reviewed(config: RetrainingConfig) -> Dict[str, Any]:
    path = config.path(config.reviewed_file)
    return {
        nlu_data.normalise(t): (intent, path.relative_to(config.project_dir))
        for intent, texts in nlu_data.read_examples(path, config.project_dir).items()
        for t in texts
    }


def _check_answer(answer: Any) -> str:
    answer = inputs.text(answer, "answer", InvalidFaq, max_chars=MAX_ANSWER)
    # Customers read it: never a card number someone pasted into a CSR reply.
    return mask_card_and_id_numbers(answer.strip())


def _answer_change(config: RetrainingConfig, response: str, answer: str) -> data_files.Change:
    """The responses file with the answer appended, and the check that Rasa reads it back."""
    path = config.path(config.faq_responses_file)
    yaml = YAML()  # round trip: comments and layout of the hand-written file stay
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the existing long answers
    yaml.indent(mapping=2, sequence=4, offset=2)
    data = _load_responses(yaml, config)
    responses = data["responses"]
    if response in responses:
        raise InvalidFaq(f"{response} exists already in {config.faq_responses_file}")
    variants = CommentedSeq([CommentedMap(text=DoubleQuotedScalarString(answer))])
    responses[response] = variants
    out = io.StringIO()
    yaml.dump(data, out)

    def differs(read: "TrainingData") -> Optional[str]:
        got = read.responses.get(response)
        return None if got == [{"text": answer}] else f"{response} reads as {got!r}"

    return data_files.Change(path, out.getvalue(), differs)


def _load_responses(yaml: YAML, config: RetrainingConfig) -> CommentedMap:
    """The responses file as a round-trip mapping with a ``responses:`` mapping in it.

    Raises:
        DataFileInvalid: the file is not YAML, or has no mapping where one must be.
    """
    path, root = config.path(config.faq_responses_file), config.project_dir
    text = data_files.read_text(path, root)
    try:
        data = yaml.load(text) if text is not None else CommentedMap(version="3.1")
    except (YAMLError, DuplicateKeyError) as exc:
        raise data_files.invalid(path, root, exc, text or "") from None
    data = CommentedMap(version="3.1") if data is None else data
    if isinstance(data, dict) and data.get("responses") is None:
        data["responses"] = CommentedMap()
    if not (isinstance(data, dict) and isinstance(data["responses"], dict)):
        file = data_files.shown(path, root)
        raise DataFileInvalid(file, "expected `responses:` with one entry per answer", 1, 1)
    return data
