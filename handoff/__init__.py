"""Live human handoff: the CSR queue, its HTTP/WebSocket API and the per-conversation outbox.

Modules, one idea each:

- ``lifecycle``: the conversation state machine (pure Python).
- ``errors``: domain errors; only ``routes`` maps them to status codes.
- ``models``: the conversation record and transcript messages.
- ``keys``: every Redis key and channel name.
- ``store``: conversation records, the queue, tickets and live events in Redis.
- ``metrics`` / ``stats``: metric samples in Redis and the arithmetic over them.
- ``outbox``: the per-conversation stream of messages to the customer (standalone).
- ``auth`` / ``accounts``: CSR/admin accounts, tokens, and their CLI.
- ``config``: settings from ``handoff.yml`` and the environment.
- ``rasa_client``: the few calls made to Rasa's HTTP API.
- ``service``: what a CSR does, combining store, outbox and Rasa.
- ``canned``: quick replies from the bot's response files.
- ``app`` / ``routes``: the Sanic edge; ``python -m handoff.service`` runs it.
"""
