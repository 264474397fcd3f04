"""Chat with the running bot from a terminal, through its REST channel.

``make run`` starts the bot; ``make shell`` (this module) talks to it. Unlike
``rasa shell`` it needs no second copy of the model in memory.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
import uuid
from typing import Dict, List


def send(url: str, sender: str, text: str, timeout: float = 60) -> List[Dict]:
    """Send one message to Rasa's REST channel and return the bot's replies."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def show(reply: Dict) -> None:
    if reply.get("text"):
        print(f"bot: {reply['text']}")
    for number, button in enumerate(reply.get("buttons") or [], start=1):
        print(f"     [{number}] {button['title']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    args = parser.parse_args()
    sender = f"shell-{uuid.uuid4().hex[:8]}"
    buttons: List[Dict] = []
    print("Type a message (a number picks a button, Ctrl+D quits).")
    while True:
        try:
            text = input("you: ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        try:
            replies = send(args.url, sender, text)
        except (urllib.error.URLError, OSError) as exc:
            print(f"(cannot reach the bot at {args.url}: {exc}; is `make run` running?)")
            continue
        buttons = [b for reply in replies for b in reply.get("buttons") or []]
        for reply in replies:
            show(reply)


if __name__ == "__main__":
    main()
