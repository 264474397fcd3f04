"""The admin API for retraining the bot: review, label, FAQ, training, models (admin role only).

Like :mod:`handoff.service.routes`, handlers only parse input, call the retraining domain
(:mod:`bot.retraining`) and shape the JSON; the domain's errors become responses through
the service's one error handler (:mod:`handoff.core.http_errors`). Authentication is the
request middleware of :mod:`handoff.service.routes`; every handler here also needs the
admin role (a CSR gets 403).
"""

from __future__ import annotations

import asyncio
import functools
import math
from typing import Any, Awaitable, Callable, List, Optional, Tuple

from sanic import Request, Sanic
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from bot.retraining import faq, labels, review
from bot.retraining.errors import DataFileInvalid, InvalidFilter
from bot.retraining.model_registry import LOAD_TIMEOUT
from handoff.core import errors
from handoff.service.requests import json_body

PREFIX = "/api/admin"
ACTIVATION_TIMEOUT = LOAD_TIMEOUT + 60

Handler = Callable[..., Awaitable[HTTPResponse]]


def register(app: Sanic) -> None:
    """Add the admin routes and the mapping of retraining errors to ``app``."""
    # Activation answers once every Rasa server has loaded the model: that can take minutes on a
    # small machine, longer than Sanic's default response timeout (60 s). In model-server mode
    # it waits until every server has pulled it, up to model_server_timeout_seconds.
    pull_wait = app.ctx.config.retraining.model_server_timeout_seconds + 60
    app.config.RESPONSE_TIMEOUT = max(app.config.RESPONSE_TIMEOUT, ACTIVATION_TIMEOUT, pull_wait)
    app.add_route(review_items, f"{PREFIX}/review", methods=["GET"])
    app.add_route(label_item, f"{PREFIX}/review/<item_id:str>/label", methods=["POST"])
    app.add_route(add_faq, f"{PREFIX}/faq", methods=["POST"])
    app.add_route(training_status, f"{PREFIX}/training", methods=["GET"])
    app.add_route(start_training, f"{PREFIX}/training", methods=["POST"])
    app.add_route(cancel_training, f"{PREFIX}/training", methods=["DELETE"])
    app.add_route(list_models, f"{PREFIX}/models", methods=["GET"])
    app.add_route(activate_model, f"{PREFIX}/models/activate", methods=["POST"])
    app.add_route(rollback_model, f"{PREFIX}/models/rollback", methods=["POST"])


def admin_only(handler: Handler) -> Handler:
    """403 unless the (already authenticated) caller has the admin role."""

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if not request.ctx.identity.is_admin:
            raise errors.Forbidden("this needs the admin role")
        return await handler(request, *args, **kwargs)

    return wrapper


# ---- review and labels ----------------------------------------------------------------------


@admin_only
async def review_items(request: Request) -> HTTPResponse:
    """Open review items (filters: threshold, since, until, intent, reason).

    The domain validates the filters (400 ``invalid_filter``); a bare ``until`` date
    covers its whole day. A broken data file does not hide the items (they come from
    Redis): ``problems`` says which file and line, and ``intents`` is then empty.
    """
    config = request.app.ctx.config.retraining
    args = request.args
    threshold = args.get("threshold") or None
    items = await review.build_review(
        request.app.ctx.redis,
        config,
        threshold=threshold,
        since=_when(args.get("since")),
        until=_when(args.get("until")),
        intent=args.get("intent") or None,
        reason=args.get("reason") or None,
    )
    intents, problems = await asyncio.to_thread(_intents, config)
    return json_response(
        {
            "items": [item.to_dict() for item in items],
            "intents": intents,
            "problems": problems,
            "threshold": float(threshold or config.low_confidence_threshold),
        }
    )


@admin_only
async def label_item(request: Request, item_id: str) -> HTTPResponse:
    """Confirm, relabel, mark out of scope or ignore one review item."""
    body = json_body(request)
    decision = await labels.label(
        request.app.ctx.redis,
        request.app.ctx.config.retraining,
        item_id,
        body.get("action"),
        intent=body.get("intent"),
        by=request.ctx.identity.username,
    )
    return json_response(decision.to_dict())


@admin_only
async def add_faq(request: Request) -> HTTPResponse:
    """A new ``faq/<topic>`` with examples and its answer (201)."""
    body = json_body(request)
    entry = await asyncio.to_thread(
        faq.add_faq,
        request.app.ctx.config.retraining,
        body.get("topic"),
        body.get("examples"),
        body.get("answer"),
    )
    return json_response(entry.to_dict(), status=201)


# ---- training -------------------------------------------------------------------------------


@admin_only
async def training_status(request: Request) -> HTTPResponse:
    """The current or last job (``null`` when none ever ran)."""
    job = await request.app.ctx.training.status()
    return json_response({"job": job.to_dict() if job else None})


@admin_only
async def start_training(request: Request) -> HTTPResponse:
    """Start a training job in the background (409 while one runs)."""
    body = json_body(request)
    config_path = body.get("config")
    if config_path is not None and not isinstance(config_path, str):
        raise errors.InvalidInput("`config` must be a path inside the project, like config.yml")
    full = body.get("full", False)
    if not isinstance(full, bool):
        raise errors.InvalidInput("`full` must be true (train from scratch) or false")
    job = await request.app.ctx.training.start(
        config_path=config_path or None, by=request.ctx.identity.username, full=full
    )
    return json_response({"job": job.to_dict()}, status=202)


@admin_only
async def cancel_training(request: Request) -> HTTPResponse:
    """Stop the running job; the running model stays as it is."""
    job = await request.app.ctx.training.cancel()
    return json_response({"job": job.to_dict()})


# ---- models ---------------------------------------------------------------------------------


@admin_only
async def list_models(request: Request) -> HTTPResponse:
    """Models on disk, which one runs, and their evaluations."""
    models = await request.app.ctx.models.list()
    return json_response({"models": [model.to_dict() for model in models]})


@admin_only
async def activate_model(request: Request) -> HTTPResponse:
    """Load a model on every Rasa server (409 ``model_worse`` unless ``override``)."""
    body = json_body(request)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise errors.InvalidInput("`model` (a model file name) is required")
    override = body.get("override", False)
    if not isinstance(override, bool):
        raise errors.InvalidInput("`override` must be true or false")
    result = await request.app.ctx.models.activate(
        model.strip(), by=request.ctx.identity.username, override=override
    )
    return json_response(result.to_dict())


@admin_only
async def rollback_model(request: Request) -> HTTPResponse:
    """Re-activate the model that ran before the current one."""
    result = await request.app.ctx.models.rollback(by=request.ctx.identity.username)
    return json_response(result.to_dict())


# ---- input helpers --------------------------------------------------------------------------


def _intents(config: Any) -> Tuple[List[str], List[str]]:
    """The intents an item may be labelled with, or none and why (a data file is broken)."""
    try:
        return labels.known_intents(config), []
    except DataFileInvalid as exc:
        return [], [exc.message]


def _when(value: Optional[str]) -> Any:
    """Epoch seconds as a number; anything else (ISO dates and times) for the domain to parse."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        # A review filter like any other: 400 invalid_filter, as documented.
        raise InvalidFilter("a time must be epoch seconds or an ISO 8601 date/time")
    return number
