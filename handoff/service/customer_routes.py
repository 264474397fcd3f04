"""Customer history for the CSR's side panel, and one customer's data exported or erased.

``GET /api/conversations/<id>/customer`` (any CSR) answers with the profile of the
customer who proved who they are in the conversation (:mod:`handoff.core.customers`)
and their orders, read live from the order system the action server uses
(``order_system`` in ``endpoints.yml``, :mod:`actions.settings`): a CSR sees the orders
as they are now, not as they were when the customer asked. An order system that is down
costs the panel its orders (``orders_error``), never the rest.

``/api/admin/customers/export`` and ``/api/admin/customers/erase`` (admin only) answer
a customer's request for their data or its erasure (:mod:`handoff.core.retention`).

The retention sweep is composed here too (:func:`build_retention`): the core decides,
``bot.retraining`` knows where Rasa's trackers and the review items are.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

from sanic import Request, Sanic
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from actions.orders.adapter import OrderSystem, OrderSystemError
from actions.orders.codec import order_to_json
from actions.orders.factory import order_system_from_config
from actions.settings import load_settings
from bot.retraining.privacy import RasaTrackers, ReviewItems
from handoff.core.resources import Resources
from handoff.core.retention import Retention
from handoff.service.admin_routes import admin_only
from handoff.service.requests import json_body

logger = logging.getLogger(__name__)

MAX_ORDERS = 20  # the side panel's; the export lists every order id
ORDERS_TIMEOUT_SECONDS = 10.0


def register(app: Sanic) -> None:
    """Add the customer routes to ``app``."""
    app.add_route(customer, "/api/conversations/<conv_id:str>/customer", methods=["GET"])
    app.add_route(export_customer, "/api/admin/customers/export", methods=["GET"])
    app.add_route(erase_customer, "/api/admin/customers/erase", methods=["POST"])


def build_retention(resources: Resources) -> Retention:
    """The retention sweep and the erasure over every place customer data is kept."""
    settings = resources.settings
    redis = resources.redis
    return Retention(
        redis,
        resources.customers,
        tickets=resources.tickets,
        parts=[RasaTrackers(redis, settings.retraining.tracker_key_prefix), ReviewItems(redis)],
        customer_data_days=settings.retention.customer_data_days,
        sweep_interval_seconds=settings.retention.sweep_interval_minutes * 60,
    )


async def customer(request: Request, conv_id: str) -> HTTPResponse:
    """The verified customer of a conversation: history, tickets, ratings and live orders.

    ``verified`` is false (and every list empty) while nobody proved who they are in it.
    """
    customers = request.app.ctx.resources.customers
    key = await customers.key_of_conversation(conv_id)
    if key is None:
        return json_response(
            {
                "conversation_id": conv_id,
                "verified": False,
                "customer": None,
                "conversations": [],
                "tickets": [],
                "ratings": [],
                "order_ids": [],
                "orders": [],
            }
        )
    profile = await customers.profile(key)
    answer: Dict[str, Any] = {"conversation_id": conv_id, "verified": True, **profile}
    orders, problem = await _orders(request.app, profile["order_ids"][:MAX_ORDERS])
    answer["orders"] = orders
    if problem:
        answer["orders_error"] = problem
    return json_response(answer)


@admin_only
async def export_customer(request: Request) -> HTTPResponse:
    """Everything held about the customer with this ``email`` (a data access request)."""
    email = request.args.get("email")
    data = await request.app.ctx.retention.export(email)
    logger.info(
        "%s exported the data of customer %s", request.ctx.identity.username, data["customer"][:12]
    )
    return json_response(data)


@admin_only
async def erase_customer(request: Request) -> HTTPResponse:
    """Delete everything held about the customer with this ``email``; idempotent."""
    body = json_body(request)
    erased = await request.app.ctx.retention.erase(body.get("email"))
    logger.info("%s erased a customer's data", request.ctx.identity.username)
    return json_response({"erased": erased.to_dict()})


async def _orders(app: Sanic, order_ids: List[str]) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """The orders as the order system has them now, or none and why."""
    if not order_ids:
        return [], None
    try:
        system = _order_system(app)
        found = await asyncio.wait_for(
            asyncio.gather(*(system.get_order(o) for o in order_ids)),
            timeout=ORDERS_TIMEOUT_SECONDS,
        )
    except ValueError as exc:
        logger.error("the order system is not configured: %s", exc)
        return [], "the order system is not configured"
    except (OrderSystemError, asyncio.TimeoutError, OSError) as exc:
        logger.warning("the order system could not be read: %r", exc)
        return [], "the order system could not be reached; try again later"
    return [order_to_json(o) for o in found if o is not None], None


def _order_system(app: Sanic) -> OrderSystem:
    """The order system of ``endpoints.yml`` and the environment, built on first use.

    The action server's settings, read from the bot project: ``BOT_PROJECT_DIR`` when
    set (``make run`` sets it for every process), else the service's ``project_dir``.
    A test (or an embedding) may put its own on ``app.ctx.order_system`` first.

    Raises:
        ValueError: the ``order_system`` settings are invalid.
    """
    system: Optional[OrderSystem] = getattr(app.ctx, "order_system", None)
    if system is None:
        env = dict(os.environ)
        env["BOT_PROJECT_DIR"] = env.get("BOT_PROJECT_DIR") or str(app.ctx.config.project_dir)
        system = order_system_from_config(load_settings(env).order_system)
        app.ctx.order_system = system
    return system
