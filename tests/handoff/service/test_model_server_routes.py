"""``GET /models/active`` over real sockets, as Rasa's model-server pull calls it.

The active model is set the way the cluster launcher sets it (``set_first_model``) or an
activation does (the rollback stack in the module's real Redis).
"""

from __future__ import annotations

import aiohttp
import pytest
import pytest_asyncio

from bot.retraining import keys
from bot.retraining.model_registry import ModelRegistry
from tests.support.handoff_api import running, service_config
from tests.support.project import copy_project

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "model-server-token"
FIRST, SECOND = "storefront-first.tar.gz", "storefront-second.tar.gz"
# Larger than one chunk of the route, so the whole file arrives over several sends.
BODY = bytes(range(256)) * 5000


@pytest.fixture(scope="module")
def project_root(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("model-server-project"), link_build=True)


@pytest.fixture
def models(project_root):
    folder = project_root / "models"
    folder.mkdir(exist_ok=True)
    for path in folder.glob("*.tar.gz"):
        path.unlink()
    (folder / FIRST).write_bytes(BODY)
    (folder / SECOND).write_bytes(b"the second model")
    return folder


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(redis_url, project_root):
    config = service_config(redis_url, rasa_token=TOKEN, project_dir=project_root)
    async with running(config) as served:
        yield served


@pytest.fixture
def registry(service, redis_client):
    app, _ = service
    return ModelRegistry(redis_client, app.ctx.config.retraining)


@pytest_asyncio.fixture(loop_scope="module")
async def pull(service, redis_db):
    """GET /models/active as Rasa sends it: (status, headers, body)."""
    async with aiohttp.ClientSession() as session:

        async def get(token=TOKEN, if_none_match=None):
            params = {"token": token} if token is not None else {}
            headers = {"If-None-Match": if_none_match} if if_none_match else {}
            url = f"{service[1]}/models/active"
            async with session.get(url, params=params, headers=headers) as response:
                return response.status, response.headers, await response.read()

        yield get


async def test_the_active_model_is_served_with_its_name_as_etag(pull, registry, models):
    assert await registry.set_first_model(FIRST) == FIRST
    status, headers, body = await pull()
    assert status == 200 and body == BODY
    assert headers["ETag"] == f'"{FIRST}"' and headers["filename"] == FIRST
    assert int(headers["Content-Length"]) == len(BODY)


@pytest.mark.parametrize("sent", [f'"{FIRST}"', FIRST, f'W/"{FIRST}"', f'"other", "{FIRST}"', "*"])
async def test_a_caller_running_it_already_gets_304(pull, registry, models, sent):
    await registry.set_first_model(FIRST)
    status, headers, body = await pull(if_none_match=sent)
    assert (status, body) == (304, b"") and headers["ETag"] == f'"{FIRST}"'


async def test_a_caller_running_another_model_gets_the_active_one(
    pull, registry, models, redis_client
):
    await registry.set_first_model(FIRST)
    await redis_client.rpush(keys.ACTIVE, SECOND)  # what an activation does
    status, headers, body = await pull(if_none_match=f'"{FIRST}"')
    assert (status, body) == (200, b"the second model") and headers["filename"] == SECOND


@pytest.mark.parametrize("token", [None, "", "not-the-token", TOKEN + "x"])
async def test_without_the_rasa_token_it_is_401(pull, registry, models, token):
    await registry.set_first_model(FIRST)
    status, _, body = await pull(token=token)
    assert status == 401 and b'"unauthorized"' in body


async def test_nothing_active_is_404_which_rasa_takes_as_no_new_model(pull, models):
    status, _, body = await pull()
    assert status == 404 and b'"no_active_model"' in body


async def test_an_active_model_missing_from_models_is_404(pull, registry, models):
    await registry.set_first_model(SECOND)
    (models / SECOND).unlink()
    status, _, body = await pull()
    assert status == 404 and b'"model_not_found"' in body


async def test_without_a_configured_token_nothing_is_served(redis_url, redis_db, project_root):
    config = service_config(redis_url, rasa_token="", project_dir=project_root)
    async with running(config) as (_, url), aiohttp.ClientSession() as session:
        async with session.get(f"{url}/models/active", params={"token": ""}) as response:
            assert response.status == 401
            assert "RASA_TOKEN" in (await response.json())["error"]["message"]
