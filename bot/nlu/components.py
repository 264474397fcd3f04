"""Custom NLU components of the bot's pipeline (Rasa 3 ``GraphComponent`` style)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

_READABLE = re.compile(r"[A-Za-z0-9]")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class UnreadableTextGuard(GraphComponent, IntentClassifier):
    """Treat messages with no Latin letter or digit (emoji, other scripts, blanks) as not
    understood.

    The classifier was trained on English only, so whatever it predicts for
    "我的订单在哪里" or "🙏🔥" is a guess, often a confident one. Falling back
    instead makes the bot say it only understands English, and a second such
    message in a row goes to a person, who may read it.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "UnreadableTextGuard":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if _READABLE.search(message.get(TEXT) or ""):
                continue
            fallback = {
                INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME,
                PREDICTED_CONFIDENCE_KEY: 0.0,
            }
            # The classifier's ranking for such text is noise: drop it, so the
            # confidence recorded on escalation is the guard's 0, not a guess.
            message.data[INTENT] = fallback
            message.data[INTENT_RANKING_KEY] = [fallback]
        return messages
