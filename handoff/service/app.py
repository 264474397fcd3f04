"""The handoff service's Sanic application factory.

Connections are opened in ``before_server_start`` and kept on ``app.ctx``, so
importing this module or building an app does no I/O, and several apps (e.g.
in tests) can live in one process.
"""

from __future__ import annotations

import uuid
from typing import Optional

import redis.asyncio as aioredis
from sanic import Sanic

from bot.retraining.jobs import TrainingJobs
from bot.retraining.model_registry import ModelRegistry
from handoff.core.auth import Auth
from handoff.core.csr_desk import HandoffService
from handoff.core.outbox import Outbox
from handoff.core.rasa_client import NullRasa, RasaClient
from handoff.core.settings import HandoffConfig
from handoff.core.store import HandoffStore
from handoff.service import pages, routes

DAY = 86400


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
    pages.register(app)
    return app


async def _open(app: Sanic, _loop: object = None) -> None:
    config: HandoffConfig = app.ctx.config
    app.ctx.redis = aioredis.from_url(config.redis_url, decode_responses=True)
    app.ctx.store = HandoffStore(
        app.ctx.redis,
        priorities=config.priorities,
        default_priority=config.default_priority,
        default_wait_seconds=config.default_wait_seconds,
        record_ttl_seconds=config.record_ttl_days * DAY,
        metrics_retention_seconds=config.metrics_retention_days * DAY,
    )
    app.ctx.outbox = Outbox(app.ctx.redis)
    app.ctx.auth = Auth(
        app.ctx.redis,
        config.secret,
        token_ttl_seconds=config.token_ttl_seconds,
        max_failures=config.login_max_failures,
        lockout_seconds=config.login_lockout_seconds,
    )
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
    )
    # The admins' retraining tools (handoff/service/admin_routes.py): models and background
    # training.
    app.ctx.models = ModelRegistry(app.ctx.redis, config.retraining)
    app.ctx.training = TrainingJobs(app.ctx.redis, config.retraining, registry=app.ctx.models)


async def _close(app: Sanic, _loop: object = None) -> None:
    await app.ctx.training.close()  # a training still running ends as cancelled
    await app.ctx.rasa.close()
    await app.ctx.redis.close()
    await app.ctx.redis.connection_pool.disconnect()
