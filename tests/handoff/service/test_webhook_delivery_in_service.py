"""With endpoints configured the service delivers webhooks: real server, receiver and Redis."""

from __future__ import annotations

import json

import aiohttp
from redis.exceptions import ResponseError

from handoff.core import keys
from handoff.core.auth import Auth
from handoff.core.settings import from_mapping
from handoff.delivery import webhooks
from tests.support.auth import FAST_SCRYPT_N, PASSWORD, SECRET
from tests.support.handoff_api import Api, running
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Receiver

HOOK_SECRET = "service-hook-secret-0123456789"


async def test_an_admin_action_reaches_the_receiver_signed(
    redis_db, redis_client, tmp_path, monkeypatch
):
    monkeypatch.setenv("TEST_SERVICE_HOOK_SECRET", HOOK_SECRET)
    receiver = Receiver()
    await receiver.start()
    config = from_mapping(
        {
            "redis_url": redis_db,
            "secret": SECRET,
            "rasa_url": "",
            "project_dir": tmp_path,
            "webhooks": {
                "endpoints": [
                    {
                        "url": receiver.url,
                        "secret_env": "TEST_SERVICE_HOOK_SECRET",
                        "events": ["team.*"],
                        "name": "helpdesk",
                    }
                ]
            },
        }
    )
    await Auth(redis_client, SECRET, scrypt_n=FAST_SCRYPT_N).create_account(
        "root", PASSWORD, "admin"
    )
    try:
        async with running(config) as (app, url), aiohttp.ClientSession() as session:
            assert app.ctx.webhooks is not None

            async def group_ready():
                try:
                    groups = await redis_client.xinfo_groups(keys.WEBHOOK_EVENTS)
                except ResponseError:  # the stream does not exist yet
                    return False
                return any(g["name"] == "webhook:helpdesk" for g in groups)

            await eventually(group_ready, what="the endpoint's consumer group")
            api = Api(url, session)
            token = await api.login("root")
            status, _ = await api.call(
                "PUT", "/api/availability", token=token, body={"message": "Back soon."}
            )
            assert status == 200

            async def delivered():
                return len(receiver.requests) == 1

            await eventually(delivered, what="the team.away webhook")
    finally:
        await receiver.stop()
    [request] = receiver.requests
    body = json.loads(request["body"])
    assert body["type"] == "team.away" and body["data"]["message"] == "Back soon."
    assert webhooks.verify(HOOK_SECRET, request["body"], request["headers"]["X-Handoff-Signature"])
