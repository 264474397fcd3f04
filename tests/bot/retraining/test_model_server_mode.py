"""Activation in model-server mode: the active model changes, then every Rasa must report it.

A real HTTP server plays Rasa's ``/status`` (tests/support/fake_rasa.py); "pulling" is the
test setting what it reports. tests/cluster/test_model_distribution.py runs the cluster's two
real Rasa servers pulling from the handoff services behind HAProxy.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace

import pytest

from bot.retraining import keys
from bot.retraining.errors import ModelNotFound, ModelNotPulled
from bot.retraining.model_registry import ModelRegistry
from tests.support.fake_rasa import TOKEN, FakeRasa
from tests.support.waiting import eventually

FIRST, SECOND = "storefront-first.tar.gz", "storefront-second.tar.gz"


@pytest.fixture(scope="module")
def rasa():
    with FakeRasa.running() as server:
        yield server


@pytest.fixture
def registry(retraining_config, rasa, redis_client, request):
    rasa.reset()
    rasa.model_file = FIRST
    models = retraining_config.models_dir
    models.mkdir(exist_ok=True)
    for name in (FIRST, SECOND):
        (models / name).write_bytes(name.encode())
    config = replace(
        retraining_config,
        rasa_urls=(rasa.url,),
        rasa_token=TOKEN,
        model_server=True,
        # A server that never pulls fails fast in the test made for it.
        model_server_timeout_seconds=1 if "never_pulls" in request.node.name else 30,
    )
    return ModelRegistry(redis_client, config)


async def _pull_when_active(registry, rasa, name):
    """What a Rasa server does: it runs ``name`` once it is the active model."""
    await eventually(lambda: _is_active(registry, name), timeout=30)
    rasa.model_file = name


async def _is_active(registry, name):
    return await registry.active() == name


async def test_the_first_model_is_the_newest_unless_one_is_active(registry, retraining_config):
    os.utime(retraining_config.models_dir / FIRST, (1, 1))  # SECOND is newer
    assert await registry.set_first_model() == SECOND
    assert await registry.set_first_model(FIRST) == SECOND  # an earlier choice stays
    assert [a.model for a in await registry.history()] == [SECOND]


async def test_no_model_at_all_is_a_clear_error(registry, retraining_config):
    for path in retraining_config.models_dir.glob("*.tar.gz"):
        path.unlink()
    with pytest.raises(ModelNotFound, match="train one first"):
        await registry.set_first_model()


async def test_activation_answers_once_every_server_runs_it(registry, rasa, redis_client):
    await registry.set_first_model(FIRST)
    pulling = asyncio.ensure_future(_pull_when_active(registry, rasa, SECOND))
    activation = await registry.activate(SECOND, by="admin", override=True)
    await pulling
    assert (activation.model, activation.previous, activation.servers) == (
        SECOND,
        FIRST,
        [rasa.url],
    )
    assert await redis_client.lrange(keys.ACTIVE, 0, -1) == [FIRST, SECOND]
    assert rasa.loaded == []  # nothing pushed with PUT /model

    pulling = asyncio.ensure_future(_pull_when_active(registry, rasa, FIRST))
    back = await registry.rollback(by="admin")
    await pulling
    assert back.model == FIRST and back.rollback
    assert await registry.active() == FIRST


async def test_a_server_that_never_pulls_undoes_the_activation(registry, rasa, redis_client):
    await registry.set_first_model(FIRST)
    with pytest.raises(ModelNotPulled) as caught:
        await registry.activate(SECOND, override=True)
    assert f"{rasa.url} runs {FIRST}" in caught.value.message
    assert "endpoints.yml" in caught.value.message
    assert await redis_client.lrange(keys.ACTIVE, 0, -1) == [FIRST]
    history = [json.loads(h)["model"] for h in await redis_client.lrange(keys.ACTIVATIONS, 0, -1)]
    assert history == [FIRST]  # only the first model; the failed activation left no record
