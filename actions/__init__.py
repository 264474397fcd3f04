"""The bot's custom actions, run by the action server (``python -m rasa_sdk --actions actions``).

The action server imports this package before it serves: the one place to install the
product's log redaction in that process (no token in any log line).
"""

from handoff.core import log_redaction

log_redaction.install()
