"""The retraining gate compares with the model Rasa really runs, or says why it cannot.

Measured before: beside `make run`, the CLI could not know Rasa's random token, read the 401
of ``/status`` as "no model running" and let any candidate pass. Here a real HTTP server
(tests/support/fake_rasa.py) plays Rasa.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.devtools.stack import StackSettings, sharing_rasa_token
from bot.retraining.errors import RasaUnavailable
from bot.retraining.model_registry import ModelRegistry
from handoff.core.settings import RASA_TOKEN_FILE, load_config
from tests.support.fake_rasa import TOKEN, FakeRasa
from tests.support.redis_server import free_port

RUNNING = "storefront-running.tar.gz"


@pytest.fixture(scope="module")
def rasa():
    with FakeRasa.running() as server:
        yield server


@pytest.fixture
def gate(retraining_config, rasa, redis_client):
    rasa.reset()
    models = retraining_config.models_dir
    models.mkdir(exist_ok=True)
    (models / RUNNING).write_bytes(b"a model file")
    rasa.model_file = RUNNING
    config = replace(retraining_config, rasa_urls=(rasa.url,), rasa_token=TOKEN)
    return lambda **changes: ModelRegistry(redis_client, replace(config, **changes))


async def test_the_running_model_is_the_one_rasa_reports(gate):
    assert (await gate().running_model()).name == RUNNING


async def test_a_refused_token_is_an_error_that_says_what_to_set(gate):
    with pytest.raises(RasaUnavailable, match="RASA_TOKEN") as caught:
        await gate(rasa_token="not-the-token").running_model()
    assert "var/rasa_token" in caught.value.message


async def test_an_unreachable_rasa_is_an_error_never_no_model(gate):
    with pytest.raises(RasaUnavailable, match="cannot reach Rasa"):
        await gate(rasa_urls=(f"http://127.0.0.1:{free_port()}",)).running_model()


async def test_a_failing_rasa_is_an_error(gate, rasa):
    rasa.down = True
    with pytest.raises(RasaUnavailable, match="500"):
        await gate().running_model()


async def test_only_a_rasa_without_a_model_means_nothing_to_compare_with(gate, rasa):
    rasa.model_file = None
    assert await gate().running_model() is None


def test_make_run_shares_its_token_with_the_cli_while_it_runs(tmp_path):
    settings = StackSettings(project_dir=tmp_path, rasa_token="tok-123")
    env = {"HANDOFF_PROJECT_DIR": str(tmp_path)}
    assert load_config(env=env).rasa_token == ""
    with sharing_rasa_token(settings) as path:
        assert path == tmp_path / RASA_TOKEN_FILE
        assert path.stat().st_mode & 0o777 == 0o600
        assert load_config(env=env).rasa_token == "tok-123"
        assert load_config(env=env).retraining.rasa_token == "tok-123"
        assert load_config(env={**env, "RASA_TOKEN": "explicit"}).rasa_token == "explicit"
    assert not path.exists()
