"""The handoff service's Sanic application factory.

Connections are opened in ``before_server_start`` and kept on ``app.ctx``, so
importing this module or building an app does no I/O, and several apps (e.g.
in tests) can live in one process.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Optional

from sanic import Sanic

from bot.retraining import data_files
from bot.retraining.jobs import TrainingJobs
from bot.retraining.model_registry import ModelRegistry
from handoff.core.csr_desk import HandoffService
from handoff.core.rasa_client import NullRasa, RasaClient
from handoff.core.resources import Resources
from handoff.core.settings import HandoffConfig
from handoff.delivery.smtp import MailDeliverer
from handoff.delivery.webhooks import WebhookDeliverer
from handoff.service import (
    admin_routes,
    availability_routes,
    customer_routes,
    export_routes,
    inbound_routes,
    model_server_routes,
    ops_routes,
    pages,
    routes,
    ticket_routes,
)

logger = logging.getLogger(__name__)


def create_app(config: HandoffConfig, name: Optional[str] = None) -> Sanic:
    """Build the service.

    Args:
        config: Validated settings (see :func:`handoff.core.settings.load_config`).
        name: Sanic app name; must be unique per process (Sanic keeps a registry),
            so a random one is generated when omitted.

    Raises:
        ConfigError: the token secret is unsafe outside dev.
    """
    config.check_secret()
    app = Sanic(name or f"handoff_{uuid.uuid4().hex[:12]}")
    app.config.REQUEST_MAX_SIZE = config.max_request_bytes
    app.config.WEBSOCKET_MAX_SIZE = config.max_request_bytes
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.config = config
    app.register_listener(_open, "before_server_start")
    app.register_listener(_close, "after_server_stop")
    routes.register(app)
    admin_routes.register(app)
    inbound_routes.register(app)
    customer_routes.register(app)
    ticket_routes.register(app)
    availability_routes.register(app)
    export_routes.register(app)
    model_server_routes.register(app)
    pages.register(app)
    ops_routes.register(app)
    return app


async def _open(app: Sanic, _loop: object = None) -> None:
    config: HandoffConfig = app.ctx.config
    resources = Resources(config)
    app.ctx.resources = resources
    app.ctx.redis, app.ctx.store = resources.redis, resources.store
    app.ctx.outbox, app.ctx.auth = resources.outbox, resources.auth
    app.ctx.attachments = resources.attachments
    app.ctx.rasa = (
        RasaClient(config.rasa_url, config.rasa_token, config.rasa_timeout_seconds)
        if config.rasa_url
        else NullRasa()
    )
    app.ctx.service = HandoffService(
        app.ctx.store,
        app.ctx.outbox,
        app.ctx.rasa,
        app.ctx.auth,
        resume_action=config.resume_action,
        max_message_chars=config.max_message_chars,
        followups=resources.followups,
    )
    # The admins' retraining tools (handoff/service/admin_routes.py): models and background
    # training.
    app.ctx.models = ModelRegistry(app.ctx.redis, config.retraining)
    app.ctx.training = TrainingJobs(app.ctx.redis, config.retraining, registry=app.ctx.models)
    # Mail to customers (ticket replies), sent in the background when an SMTP server is set.
    app.ctx.mailer = None
    if config.email.enabled:
        app.ctx.mailer = MailDeliverer(resources.mail_outbox, config.email)
        await app.ctx.mailer.start()
    # Customer data older than retention.customer_data_days, swept by one instance at a time.
    app.ctx.retention = customer_routes.build_retention(resources)
    app.ctx.retention_stop = asyncio.Event()
    app.ctx.retention_task = asyncio.ensure_future(app.ctx.retention.run(app.ctx.retention_stop))
    # Signed lifecycle events to the store's tools, when endpoints are configured.
    app.ctx.webhooks = None
    if config.webhooks.endpoints:
        app.ctx.webhooks = WebhookDeliverer(resources.redis, config.webhooks)
        app.ctx.webhooks.start()
    await asyncio.to_thread(_report_data_files, config)


def _report_data_files(config: HandoffConfig) -> None:
    """Log each broken data file (file:line:column) at start-up, before labelling fails on it.

    The service starts anyway: the CSR console needs none of these files, and the admin
    tools answer 409 ``data_file_invalid`` on a broken one until someone fixes it.
    """
    try:
        found = data_files.problems(config.retraining)
    except Exception:  # noqa: BLE001 - a check must never keep the console from starting
        logger.exception("could not check the retraining data files")
        return
    for exc in found:
        where = ":".join(str(part) for part in (exc.file, exc.line, exc.column) if part)
        logger.error("data file %s cannot be read: %s", where, exc.message)


async def _close(app: Sanic, _loop: object = None) -> None:
    app.ctx.retention_stop.set()
    await app.ctx.retention_task
    if app.ctx.mailer is not None:
        await app.ctx.mailer.stop()
    if app.ctx.webhooks is not None:
        await app.ctx.webhooks.close()
    await app.ctx.training.close()  # a training still running ends as cancelled
    await app.ctx.rasa.close()
    await app.ctx.resources.close()
