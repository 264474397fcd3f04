"""Live human handoff: a framework-free core that three processes share, and its Sanic service.

- ``handoff.core``: the conversation lifecycle, records, queue store, outbox, Redis keys,
  accounts and tokens, redaction, settings, the error hierarchy and the composition root.
  No Sanic, Rasa or rasa-sdk: the widget channel (Rasa), the actions (rasa-sdk) and the
  service (Sanic) all build on it.
- ``handoff.service``: the Sanic edge for CSRs and admins (``python -m handoff.service``).

docs/architecture.md draws the layers and which process runs which code.
"""
