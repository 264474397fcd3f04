"""A load driver: customers on the widget API and CSRs on the handoff API, everything recorded.

Each of ``customers`` slots runs one conversation after another until the run stops, as the
widget does it: a session, a WebSocket that delivers the outbox (reconnecting with ``after``
= the last id shown) and messages sent over HTTP. Every ``escalate_every``-th conversation
asks for a person; ``csrs`` CSR workers log in, claim those conversations from the queue,
answer, wait for the customer's answer and close. Calls that fail with a status worth
retrying (502, 503, a dropped connection) are retried with backoff, as widget.js and the
console do; every attempt is recorded with its time, so ``bot.devtools.load_check`` can tell
an outage's errors from others and compare what was sent with what arrived.

Used by the fault tests (tests/cluster/) and by hand against ``make run`` or ``make cluster``::

    python -m bot.devtools.load_check --widget http://127.0.0.1:5005 \\
        --handoff http://127.0.0.1:5080 --customers 20 --seconds 120 \\
        --csr alice:demo-password --csr admin:demo-password
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import aiohttp

# Statuses a client retries after a pause: the load balancer found no server (503), a server
# died under a request (502), storage is failing over (503 redis_unavailable).
RETRY_STATUSES = (502, 503, 504)
KEEPALIVE_SECONDS = 5  # below the balancer's keep-alive timeout (see LoadRun.run)
# What a customer says to the bot; no digits, so transcripts keep the text unmasked.
SMALL_TALK = (
    "hi",
    "how long does standard shipping take?",
    "do you ship to canada?",
    "how much is express shipping?",
)
ASK_FOR_PERSON = "I want to talk to a real person"
ANSWER_TO_CSR = "thanks, my parcel is late"


@dataclass
class LoadSettings:
    """Where to send the load, how much, and for how long."""

    widget_url: str  # Rasa (or the load balancer in front of it), without /webhooks/widget
    handoff_url: str
    csr_logins: Sequence[Tuple[str, str]] = ()
    customers: int = 8  # conversations under way at once
    conversations: Optional[int] = None  # stop after this many in all (None: until stopped)
    escalate_every: int = 3  # every n-th conversation asks for a person (0: none)
    think_seconds: float = 0.3  # a customer's pause between messages
    # widget.js sets no timeout of its own; a message resent right after its Rasa died waits
    # on Rasa's conversation lock (TICKET_LOCK_LIFETIME) and may then answer 502.
    request_timeout: float = 120.0
    give_up_seconds: float = 180.0  # a call retried this long is given up (and recorded)
    wait_for_csr_seconds: float = 120.0
    rasa_token: Optional[str] = None  # to read Rasa trackers for the transcript check
    seed: int = 15
    # When the product reads client addresses from a header (SANIC_REAL_IP_HEADER), each
    # customer sends its own there, as customers behind a load balancer do; otherwise the
    # per-address session budget would throttle the whole run.
    real_ip_header: Optional[str] = None


@dataclass
class Attempt:
    """One HTTP request or WebSocket handshake: when, what, and how it ended."""

    who: str
    route: str
    started: float
    ended: float
    status: Optional[int]  # None: no HTTP answer at all (refused, reset, timeout)
    error: str = ""
    # The balancer closed the kept-alive connection the request went out on, before any
    # answer; the request was sent again at once on a new connection, as browsers do.
    resent: bool = False


@dataclass
class Sent:
    """One message a customer or a CSR sent, with the attempts it took."""

    text: str
    attempts: int = 0
    acked: bool = False  # some attempt answered 2xx
    status: Optional[int] = None  # the last attempt's status
    entry_ids: List[str] = field(default_factory=list)  # outbox ids the answer named


@dataclass
class Conversation:
    """Everything one customer's conversation sent and received."""

    slot: int
    number: int
    escalates: bool
    conversation_id: str = ""
    token: str = ""
    sent: List[Sent] = field(default_factory=list)
    csr_sent: List[Sent] = field(default_factory=list)
    csr: str = ""
    received: List[str] = field(default_factory=list)  # outbox ids in arrival order
    messages: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    reconnects: int = 0
    finished: bool = False
    failure: str = ""  # why the script stopped early, if it did

    @property
    def label(self) -> str:
        return f"c{self.slot}.{self.number}"

    def received_kind(self, kind: str) -> bool:
        return any(m.get("kind") == kind for m in self.messages.values())

    def received_from(self, sender: str) -> int:
        return sum(1 for m in self.messages.values() if m.get("sender") == sender)


@dataclass
class Recording:
    """The whole run: every attempt and every conversation."""

    attempts: List[Attempt] = field(default_factory=list)
    conversations: List[Conversation] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


@dataclass
class ReadBack:
    """What the product holds for one conversation after the run."""

    outbox: List[Dict[str, Any]] = field(default_factory=list)  # {"id", "sender", "text", ...}
    transcript: Optional[List[Tuple[str, str]]] = None  # (sender, text); None: not read
    state: Optional[str] = None  # handoff state; None: no handoff record


class GaveUp(Exception):
    """A call kept failing for ``give_up_seconds``."""


class Http:
    """JSON calls that record every attempt and retry what a real client retries."""

    def __init__(self, session: aiohttp.ClientSession, settings: LoadSettings, rec: Recording):
        self.session = session
        self.settings = settings
        self.rec = rec

    async def once(
        self, who: str, route: str, method: str, url: str, token: str = "", body: Any = None
    ) -> Tuple[Attempt, Any, float]:
        """One attempt, recorded: (the attempt, decoded body, seconds to wait before a retry)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if self.settings.real_ip_header:
            headers[self.settings.real_ip_header] = _address(who)
        started = time.time()
        try:
            async with self.session.request(
                method, url, json=body, headers=headers, timeout=self._timeout()
            ) as resp:
                raw = await resp.read()
                status, retry_after = resp.status, resp.headers.get("Retry-After")
        except aiohttp.ServerDisconnectedError as exc:
            # HAProxy answers a request on a reused client connection whose server died
            # under it by closing the connection (a request on a fresh one gets a 502):
            # the keep-alive race, which browsers settle by sending the request again.
            attempt = Attempt(who, route, started, time.time(), None, repr(exc), resent=True)
            self.rec.attempts.append(attempt)
            return attempt, None, 0.0
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            attempt = Attempt(who, route, started, time.time(), None, repr(exc))
            self.rec.attempts.append(attempt)
            return attempt, None, 0.5
        attempt = Attempt(who, route, started, time.time(), status)
        self.rec.attempts.append(attempt)
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            payload = raw.decode(errors="replace")
        return attempt, payload, _pause(retry_after)

    async def call(
        self,
        who: str,
        route: str,
        method: str,
        url: str,
        token: str = "",
        body: Any = None,
        sent: Optional[Sent] = None,
    ) -> Tuple[int, Any]:
        """Retry on 502/503/504 and dropped connections; raise GaveUp after the limit."""
        deadline = time.monotonic() + self.settings.give_up_seconds
        backoff = 0.25
        resent_once = False
        while True:
            attempt, payload, pause = await self.once(who, route, method, url, token, body)
            status = attempt.status
            if sent is not None:
                sent.attempts += 1
                sent.status = status
            if status is not None and status not in RETRY_STATUSES:
                return status, payload
            if time.monotonic() + pause > deadline:
                raise GaveUp(f"{method} {route}: last status {status}")
            if attempt.resent and not resent_once:
                resent_once = True  # at once and only once, as a browser does
                continue
            attempt.resent = False  # closed again: no answer, an error like any other
            backoff = min(backoff * 2, 2.0)
            await asyncio.sleep(max(pause, backoff) * random.uniform(0.8, 1.2))

    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.settings.request_timeout)


def _address(who: str) -> str:
    """A private address of its own for each caller (stable for one name)."""
    h = zlib.crc32(who.encode())
    return f"10.{(h >> 16) & 255}.{(h >> 8) & 255}.{h & 255}"


def _pause(retry_after: Optional[str]) -> float:
    try:
        return min(float(retry_after), 5.0) if retry_after else 0.0
    except ValueError:
        return 0.0


class CustomerScript:
    """One conversation over the widget API (what widget.js does), recorded in ``conv``."""

    def __init__(self, http: Http, conv: Conversation, announce: Callable[[Conversation], Any]):
        self.http = http
        self.conv = conv
        self.announce = announce  # tells the CSRs of a conversation that asked for a person
        self.base = f"{http.settings.widget_url}/webhooks/widget"
        self.arrived = asyncio.Condition()

    async def run(self) -> None:
        conv = self.conv
        status, body = await self.http.call(conv.label, "session", "POST", f"{self.base}/session")
        if status != 200:
            conv.failure = f"session: {status}"
            return
        conv.conversation_id, conv.token = body["conversation_id"], body["token"]
        socket = asyncio.ensure_future(self._socket())
        try:
            await self._talk()
            conv.finished = not conv.failure
        except GaveUp as exc:
            conv.failure = str(exc)
        finally:
            # Let the socket catch up with the outbox before it closes (bounded).
            await self._drain()
            socket.cancel()
            await asyncio.gather(socket, return_exceptions=True)

    async def _talk(self) -> None:
        conv = self.conv
        for text in SMALL_TALK[: 2 if conv.escalates else len(SMALL_TALK)]:
            await self.say(text)
        if not conv.escalates:
            return
        await self.say(ASK_FOR_PERSON)
        self.announce(conv)
        wait = self.http.settings.wait_for_csr_seconds
        if not await self._until(lambda: conv.received_from("csr") >= 1, wait):
            conv.failure = "no CSR answered"
            return
        await self.say(ANSWER_TO_CSR)
        if not await self._until(lambda: conv.received_kind("followup_request"), wait):
            conv.failure = "never closed"

    async def say(self, text: str) -> None:
        await asyncio.sleep(self.http.settings.think_seconds * random.uniform(0.5, 1.5))
        sent = Sent(text)
        self.conv.sent.append(sent)
        status, body = await self.http.call(
            self.conv.label,
            "widget_message",
            "POST",
            f"{self.base}/messages",
            self.conv.token,
            {"text": text},
            sent=sent,
        )
        sent.acked = status in (200, 202)
        if sent.acked:
            sent.entry_ids = [m["id"] for m in body.get("messages") or []]
        else:
            self.conv.failure = f"message {text!r}: {status} {body}"
            raise GaveUp(self.conv.failure)

    async def _socket(self) -> None:
        """Keep a socket open, reconnecting with the last id shown, as widget.js does."""
        ws_base = self.base.replace("http", "ws", 1)
        first = True
        while True:
            after = self.conv.received[-1] if self.conv.received else None
            url = f"{ws_base}/ws?token={self.conv.token}" + (f"&after={after}" if after else "")
            if not first:
                self.conv.reconnects += 1
            first = False
            await self._connect_once(url)
            await asyncio.sleep(random.uniform(0.3, 0.8))

    async def _connect_once(self, url: str) -> None:
        started = time.time()
        rec = self.http.rec
        try:
            async with self.http.session.ws_connect(url, heartbeat=10, autoclose=True) as ws:
                rec.attempts.append(
                    Attempt(self.conv.label, "widget_ws", started, time.time(), 101)
                )
                async for frame in ws:
                    if frame.type == aiohttp.WSMsgType.TEXT:
                        await self._on_frame(json.loads(frame.data))
        except aiohttp.WSServerHandshakeError as exc:
            rec.attempts.append(
                Attempt(self.conv.label, "widget_ws", started, time.time(), exc.status, repr(exc))
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            rec.attempts.append(
                Attempt(self.conv.label, "widget_ws", started, time.time(), None, repr(exc))
            )

    async def _on_frame(self, frame: Dict[str, Any]) -> None:
        if frame.get("type") != "message":
            return
        self.conv.received.append(frame["id"])  # duplicates stay visible to the checker
        self.conv.messages.setdefault(frame["id"], frame["message"])
        async with self.arrived:
            self.arrived.notify_all()

    async def _until(self, condition, timeout: float) -> bool:
        async with self.arrived:
            try:
                await asyncio.wait_for(self.arrived.wait_for(condition), timeout)
            except asyncio.TimeoutError:
                return bool(condition())
        return True

    async def _drain(self) -> None:
        acked = {i for s in self.conv.sent + self.conv.csr_sent for i in s.entry_ids}
        await self._until(lambda: acked <= set(self.conv.received), 20.0)


class CsrWorker:
    """A CSR on the handoff API: claims this run's escalated conversations, answers, closes."""

    def __init__(
        self,
        http: Http,
        login: Tuple[str, str],
        waiting: "asyncio.Queue[Conversation]",
        stop: asyncio.Event,
    ):
        self.http = http
        self.username, self.password = login
        self.waiting = waiting
        self.stop = stop
        self.api = f"{http.settings.handoff_url}/api"
        self.token = ""
        self.handled = 0

    async def run(self) -> None:
        status, body = await self.http.call(
            self.username,
            "login",
            "POST",
            f"{self.api}/login",
            body={"username": self.username, "password": self.password},
        )
        if status != 200:
            raise RuntimeError(f"CSR {self.username} cannot log in: {status} {body}")
        self.token = body["token"]
        presence = asyncio.ensure_future(self._stay_present())
        try:
            while not (self.stop.is_set() and self.waiting.empty()):
                try:
                    conv = await asyncio.wait_for(self.waiting.get(), 1.0)
                except asyncio.TimeoutError:
                    continue
                await self._serve(conv)
        finally:
            presence.cancel()
            await asyncio.gather(presence, return_exceptions=True)

    async def _serve(self, conv: Conversation) -> None:
        try:
            if not await self._claim(conv):
                return
            conv.csr = self.username
            await self._reply(conv, f"Hello from {self.username}, ticket {conv.label} first")
            await self._wait_for_customer(conv)
            await self._reply(conv, f"Sorted, {conv.label} second from {self.username}")
            await self._close(conv)
            self.handled += 1
        except GaveUp as exc:
            conv.failure = f"CSR {self.username}: {exc}"

    async def _claim(self, conv: Conversation) -> bool:
        path = f"{self.api}/conversations/{conv.conversation_id}"
        deadline = time.monotonic() + self.http.settings.wait_for_csr_seconds
        while time.monotonic() < deadline:
            status, body = await self.http.call(
                self.username, "claim", "POST", f"{path}/claim", self.token, {}
            )
            if status == 200:
                return True
            # 404/409: not queued yet (the escalation is still on its way), or our own claim
            # succeeded under a 502 and this retry met it assigned to us.
            details = await self._details(conv)
            if details.get("state") == "assigned" and details.get("assigned_to") == self.username:
                return True
            if details.get("state") not in (None, "bot", "queued"):
                conv.failure = f"claim: {status} {body}, state {details.get('state')}"
                return False
            await asyncio.sleep(0.3)
        conv.failure = "never queued"
        return False

    async def _reply(self, conv: Conversation, text: str) -> None:
        sent = Sent(text)
        conv.csr_sent.append(sent)
        status, body = await self.http.call(
            self.username,
            "csr_message",
            "POST",
            f"{self.api}/conversations/{conv.conversation_id}/messages",
            self.token,
            {"text": text},
            sent=sent,
        )
        sent.acked = status == 201
        if not sent.acked:
            raise GaveUp(f"reply: {status} {body}")
        sent.entry_ids = [body["id"]]

    async def _wait_for_customer(self, conv: Conversation) -> None:
        deadline = time.monotonic() + self.http.settings.wait_for_csr_seconds
        while time.monotonic() < deadline:
            transcript = (await self._details(conv)).get("transcript") or []
            if any(m.get("text") == ANSWER_TO_CSR for m in transcript):
                return
            await asyncio.sleep(0.5)
        raise GaveUp("the customer never answered")

    async def _close(self, conv: Conversation) -> None:
        status, body = await self.http.call(
            self.username,
            "close",
            "POST",
            f"{self.api}/conversations/{conv.conversation_id}/close",
            self.token,
            {"resolution": "load_test"},
        )
        if status == 200:
            return
        if status == 409 and (await self._details(conv)).get("state") == "closed":
            return  # closed under a 502: this retry found it done
        raise GaveUp(f"close: {status} {body}")

    async def _details(self, conv: Conversation) -> Dict[str, Any]:
        status, body = await self.http.call(
            self.username,
            "conversation",
            "GET",
            f"{self.api}/conversations/{conv.conversation_id}",
            self.token,
        )
        return body if status == 200 and isinstance(body, dict) else {}

    async def _stay_present(self) -> None:
        """Hold the console socket open: the bot queues customers only while a CSR is online."""
        url = f"{self.api.replace('http', 'ws', 1)}/events?token={self.token}"
        while True:
            try:
                async with self.http.session.ws_connect(url, heartbeat=10) as ws:
                    async for _ in ws:
                        pass
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            await asyncio.sleep(1.0)


class LoadRun:
    """The customers and CSRs of one run, driven until :meth:`stop`."""

    def __init__(self, settings: LoadSettings):
        self.settings = settings
        self.rec = Recording()
        self._stop: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.started = threading.Event()

    async def run(self) -> Recording:
        """Drive the load until stopped; every conversation begun is finished or given up."""
        random.seed(self.settings.seed)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.rec.started = time.time()
        waiting: asyncio.Queue[Conversation] = asyncio.Queue()
        # Idle connections are dropped before a balancer would close them (HAProxy's
        # `timeout http-keep-alive` is 10 s): a request sent on one it just closed fails
        # without an answer, which browsers retry by themselves and aiohttp does not.
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_SECONDS)
        async with aiohttp.ClientSession(connector=connector) as session:
            http = Http(session, self.settings, self.rec)
            # The CSRs stop once every customer stopped: the last ones may still ask for a person.
            customers_done = asyncio.Event()
            workers = [
                CsrWorker(http, login, waiting, customers_done)
                for login in self.settings.csr_logins
            ]
            numbers = itertools.count()
            tasks = [asyncio.ensure_future(w.run()) for w in workers]
            slots = [
                asyncio.ensure_future(self._slot(http, slot, numbers, waiting))
                for slot in range(self.settings.customers)
            ]
            self.started.set()
            await asyncio.gather(*slots)
            customers_done.set()
            await asyncio.gather(*tasks)
        self.rec.ended = time.time()
        return self.rec

    async def _slot(
        self, http: Http, slot: int, numbers: Iterator[int], waiting: "asyncio.Queue[Conversation]"
    ) -> None:
        every = self.settings.escalate_every
        while not self._stop.is_set():
            number = next(numbers)
            if self.settings.conversations is not None and number >= self.settings.conversations:
                return
            conv = Conversation(slot, number, escalates=bool(every) and number % every == every - 1)
            self.rec.conversations.append(conv)
            await CustomerScript(http, conv, announce=waiting.put_nowait).run()

    def stop(self) -> None:
        """Begin no more conversations; those under way finish (thread-safe)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


@contextmanager
def load_in_background(settings: LoadSettings) -> Iterator[LoadRun]:
    """Run the load in a thread of its own while the caller injects faults.

    On exit the run is stopped and joined; ``run.recording`` then holds everything.
    """
    run = LoadRun(settings)
    result: Dict[str, Any] = {}

    def target() -> None:
        try:
            result["recording"] = asyncio.run(run.run())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc
            run.started.set()

    thread = threading.Thread(target=target, name="load", daemon=True)
    thread.start()
    run.started.wait(60)
    try:
        yield run
    finally:
        run.stop()
        thread.join()
        if "error" in result:
            raise result["error"]


async def read_back(settings: LoadSettings, rec: Recording) -> Dict[str, ReadBack]:
    """What the product holds for each conversation of ``rec``: outbox, transcript, state.

    The transcript of a conversation a CSR had is the handoff service's (what the CSR saw);
    of one the bot kept, Rasa's tracker (when ``settings.rasa_token`` is given).
    """
    found: Dict[str, ReadBack] = {}
    async with aiohttp.ClientSession() as session:
        http = Http(session, settings, Recording())  # read-back calls are not the load's
        staff = await _staff_token(http, settings)
        for conv in rec.conversations:
            if conv.conversation_id:
                found[conv.conversation_id] = await _read_one(http, settings, conv, staff)
    return found


async def _staff_token(http: Http, settings: LoadSettings) -> str:
    if not settings.csr_logins:
        return ""
    username, password = settings.csr_logins[0]
    status, body = await http.call(
        "reader",
        "login",
        "POST",
        f"{settings.handoff_url}/api/login",
        body={"username": username, "password": password},
    )
    return body["token"] if status == 200 else ""


async def _read_one(http: Http, settings: LoadSettings, conv: Conversation, staff: str) -> ReadBack:
    back = ReadBack(outbox=await _outbox(http, settings, conv))
    if staff:
        url = f"{settings.handoff_url}/api/conversations/{conv.conversation_id}"
        status, body = await http.call("reader", "conversation", "GET", url, staff)
        if status == 200:
            back.state = body.get("state")
            if conv.escalates:
                back.transcript = [(m["sender"], m["text"]) for m in body.get("transcript") or []]
    if back.transcript is None and settings.rasa_token:
        back.transcript = await _tracker_lines(http, settings, conv)
    return back


async def _outbox(http: Http, settings: LoadSettings, conv: Conversation) -> List[Dict[str, Any]]:
    entries: List[Dict[str, Any]] = []
    after = ""
    while True:
        url = f"{settings.widget_url}/webhooks/widget/messages" + (
            f"?after={after}" if after else ""
        )
        status, body = await http.call("reader", "outbox", "GET", url, conv.token)
        if status != 200:
            raise RuntimeError(f"cannot read the outbox of {conv.label}: {status} {body}")
        entries += body["messages"]
        if not body.get("more") or not body["messages"]:
            return entries
        after = body["messages"][-1]["id"]


async def _tracker_lines(
    http: Http, settings: LoadSettings, conv: Conversation
) -> Optional[List[Tuple[str, str]]]:
    url = (
        f"{settings.widget_url}/conversations/{conv.conversation_id}/tracker"
        f"?token={settings.rasa_token}"
    )
    status, body = await http.call("reader", "tracker", "GET", url)
    if status != 200:
        return None
    return [
        ("customer", e.get("text") or "") for e in body.get("events") or [] if e["event"] == "user"
    ]


def run_for(
    settings: LoadSettings, seconds: Optional[float] = None
) -> Tuple[Recording, Dict[str, ReadBack]]:
    """A whole run without faults, then everything read back.

    The run ends after ``settings.conversations`` conversations, or after ``seconds``.
    """

    async def whole() -> Tuple[Recording, Dict[str, ReadBack]]:
        run = LoadRun(settings)
        task = asyncio.ensure_future(run.run())
        if seconds is not None:
            await asyncio.wait([task], timeout=seconds)
            run.stop()
        rec = await task
        return rec, await read_back(settings, rec)

    return asyncio.run(whole())
