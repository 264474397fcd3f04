"""The domain of live handoff, shared by every process; plain Python over Redis.

Modules, one idea each:

- ``settings``: the one settings object, from ``handoff.yml`` and the environment.
- ``resources``: the composition root that builds the Redis client, store, outbox, accounts.
- ``errors`` / ``http_errors``: the one error hierarchy and its one mapping to HTTP.
- ``lifecycle``: the conversation state machine.
- ``conversation``: the conversation record and transcript messages.
- ``keys``: every Redis key and channel name.
- ``store``: conversation records, the queue, tickets and live events in Redis.
- ``metrics`` / ``stats``: metric samples in Redis and the arithmetic over them.
- ``outbox``: the per-conversation stream of messages to the customer.
- ``auth``: CSR/admin accounts, logins and tokens; ``customer_tokens``: the widget's tokens.
- ``csr_desk``: what a CSR does to a conversation, combining store, outbox and Rasa.
- ``rasa_client``: the few calls made to Rasa's HTTP API.
- ``redaction``: masking card numbers and other secrets before they are stored.
- ``log_redaction``: keeping tokens out of every log line (installed by each process).
- ``canned``: quick replies from the bot's response files.
"""
