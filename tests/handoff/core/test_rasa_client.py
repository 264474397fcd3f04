"""RasaClient against a real (fake) Rasa HTTP server."""

from __future__ import annotations

import pytest

from handoff.core.errors import UpstreamError
from handoff.core.rasa_client import NullRasa, RasaClient


@pytest.fixture
async def client(fake_rasa):
    rasa = RasaClient(fake_rasa.url, fake_rasa.token, timeout_seconds=2)
    yield rasa
    await rasa.close()


async def test_agent_message_is_a_bot_event_with_the_agent(client, fake_rasa):
    buttons = [{"title": "Ok", "payload": "/affirm"}]
    await client.add_agent_message("conv/1", "Hello", "Alice", buttons=buttons, timestamp=5.0)
    [call] = fake_rasa.calls
    assert call["path"] == "/conversations/conv%2F1/tracker/events"
    assert call["query"] == {"token": "rasa-token", "include_events": "NONE"}
    assert call["json"] == [
        {
            "event": "bot",
            "text": "Hello",
            "metadata": {"agent": "Alice"},
            "timestamp": 5.0,
            "data": {"buttons": buttons},
        }
    ]


async def test_resume_and_execute_action(client, fake_rasa):
    await client.resume("c1")
    messages = await client.execute_action("c1", "action_handback")
    assert [c["json"] for c in fake_rasa.calls][0][0]["event"] == "resume"
    assert fake_rasa.calls[1]["path"] == "/conversations/c1/execute"
    assert fake_rasa.calls[1]["json"] == {"name": "action_handback"}
    assert fake_rasa.calls[1]["query"]["output_channel"] == "latest"
    # the bot goes back to listening, so the next customer message is handled normally
    assert fake_rasa.calls[2]["json"] == [{"event": "action", "name": "action_listen"}]
    assert messages == fake_rasa.greeting


async def test_errors_become_upstream_errors(client, fake_rasa):
    fake_rasa.down = True
    with pytest.raises(UpstreamError, match="500"):
        await client.resume("c1")
    wrong_token = RasaClient(fake_rasa.url, "nope")
    with pytest.raises(UpstreamError, match="401"):
        await wrong_token.resume("c1")
    await wrong_token.close()
    unreachable = RasaClient("http://127.0.0.1:9", timeout_seconds=1)
    with pytest.raises(UpstreamError, match="unreachable"):
        await unreachable.add_agent_message("c1", "hi", "Alice")
    await unreachable.close()


async def test_null_rasa_does_nothing():
    rasa = NullRasa()
    await rasa.resume("c1")
    await rasa.add_agent_message("c1", "hi", "Alice")
    assert await rasa.execute_action("c1", "action_handback") == []
    await rasa.close()
