"""Outbound transports: email over SMTP and signed webhooks over HTTP.

Each deliverer reads a durable queue in Redis (the email outbox, the webhook event log)
and sends with retries, so a mail server or a receiver that is down delays delivery and
loses nothing. The handoff service runs them; they import only the core.
"""
