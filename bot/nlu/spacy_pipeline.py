"""Build the spaCy pipeline that Rasa's ``SpacyNLP`` loads.

No pretrained spaCy model can be downloaded here, and the bot does not need
one: a blank English tokenizer plus an entity ruler finds the three things a
support conversation must extract exactly (order numbers, emails, postcodes).
Rules beat a statistical model for these: the formats are fixed, and a
missed order number costs a customer another round trip.

Run ``python -m bot.nlu.spacy_pipeline`` to (re)build it; ``config.yml`` points
``SpacyNLP`` at the output directory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List

if (
    TYPE_CHECKING
):  # importing spaCy loads TensorFlow (through thinc): only where a pipeline is built
    import spacy

DEFAULT_OUTPUT = Path("build/spacy/en_storefront")

ORDER_ID = "order_id"
EMAIL = "email"
POSTCODE = "postcode"

# "A1042", "#A1042" (the '#' is its own token), "A-1042", and plain numeric
# ids of 6+ digits that many shop systems use.
_ORDER_TOKEN = r"^(?:[A-Za-z]{1,2}-?\d{4,8}|\d{6,15})$"
_US_ZIP = r"^\d{5}(?:-\d{4})?$"
_UK_OUTWARD = r"^[A-Za-z]{1,2}\d[A-Za-z\d]?$"
_UK_INWARD = r"^\d[A-Za-z]{2}$"


def entity_patterns() -> List[Dict]:
    """The entity ruler's patterns; also the input of the pipeline fingerprint."""
    return [
        {"label": ORDER_ID, "pattern": [{"TEXT": {"REGEX": _ORDER_TOKEN}}]},
        {"label": EMAIL, "pattern": [{"LIKE_EMAIL": True}]},
        {"label": POSTCODE, "pattern": [{"TEXT": {"REGEX": _US_ZIP}}]},
        {
            "label": POSTCODE,
            "pattern": [{"TEXT": {"REGEX": _UK_OUTWARD}}, {"TEXT": {"REGEX": _UK_INWARD}}],
        },
    ]


def build_pipeline() -> "spacy.Language":
    """A blank English pipeline with the entity ruler."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True})
    ruler.add_patterns(entity_patterns())
    nlp.meta["name"] = "storefront"
    nlp.meta["description"] = (
        "Blank English tokenizer + entity ruler for order ids, emails, postcodes"
    )
    return nlp


def fingerprint() -> str:
    """Changes whenever the built pipeline would change."""
    payload = json.dumps({"spacy": version("spacy"), "patterns": entity_patterns()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def ensure_built(output: Path = DEFAULT_OUTPUT) -> bool:
    """Build the pipeline unless an identical one is on disk; return True if built."""
    stamp = output / "fingerprint.txt"
    if stamp.exists() and stamp.read_text().strip() == fingerprint():
        return False
    output.parent.mkdir(parents=True, exist_ok=True)
    build_pipeline().to_disk(output)
    stamp.write_text(fingerprint() + "\n")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    built = ensure_built(args.output)
    print(f"spaCy pipeline {'built' if built else 'up to date'} at {args.output}")


if __name__ == "__main__":
    main()
