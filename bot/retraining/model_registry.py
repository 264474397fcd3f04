"""Trained models on disk, which one each Rasa server runs, activation and rollback.

Activation is Rasa's own ``PUT /model``: the server loads the new model beside
the old one and swaps its agent only once the new one is ready, so customers
never meet a server without a model. The activation history is a stack in
Redis, so rollback goes back one activation at a time.

In model-server mode (``retraining.model_server``) nothing is pushed to Rasa: the top of
that stack is the *active model*, which every Rasa server pulls from the handoff service
(``GET /models/active``, endpoints.yml ``models:``, ETag = file name). Activation and
rollback change the active model, then wait until every ``retraining.rasa_urls`` reports it
in ``/status``; when one does not in ``model_server_timeout_seconds`` the change is undone.
Rasa loads a pulled model the same way (the old agent stays until the new one is ready;
Rasa 3.6 loads in its event loop either way, so a loading instance answers late).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import WatchError

from bot.nlu.training import cache_dir
from bot.retraining import keys
from bot.retraining.comparison import Comparison
from bot.retraining.errors import (
    ModelNotFound,
    ModelNotPulled,
    ModelWorse,
    NoActiveModel,
    NotEvaluated,
    NothingToRollBack,
    RasaUnavailable,
)
from handoff.core.resources import Resources
from handoff.core.settings import HandoffConfig, RetrainingConfig

logger = logging.getLogger(__name__)

SUFFIX = ".tar.gz"
STATUS_TIMEOUT = 10
# Loading a model takes tens of seconds on a small machine; Rasa answers when done.
LOAD_TIMEOUT = 600
TOKEN_HINT = "make run writes the token of its Rasa to var/rasa_token, which the CLI reads"
# How often a model-server activation asks each Rasa server which model it runs.
PULL_CHECK_SECONDS = 0.5
FIRST_MODEL_BY = "first-model"


@dataclass
class ModelInfo:
    """One model file and what is known about it."""

    name: str
    path: str
    size: int
    created_at: str
    active_on: List[str] = field(default_factory=list)
    evaluation: Optional[Dict[str, Any]] = None

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Activation:
    """One activation (or rollback) as recorded in the history."""

    model: str
    previous: Optional[str]
    by: Optional[str]
    at: str
    override: bool
    rollback: bool
    servers: List[str]

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class ModelRegistry:
    """The models of one project and the Rasa servers that run them.

    Args:
        redis: asyncio client (activation history, comparisons).
        config: Retraining settings (project, Rasa URLs and token, keep_models).
    """

    def __init__(self, redis: Redis, config: RetrainingConfig):
        self._redis = redis
        self._config = config

    # ---- reading -------------------------------------------------------------------------

    async def list(self) -> List[ModelInfo]:
        """Every model in ``models/``, newest first, with where it runs and its evaluation."""
        running = await self.running()
        infos = []
        for path in self._files():
            stat = path.stat()
            comparison = await self.comparison(path.name)
            infos.append(
                ModelInfo(
                    name=path.name,
                    path=str(path),
                    size=stat.st_size,
                    created_at=_iso(stat.st_mtime),
                    active_on=[url for url, name in running.items() if name == path.name],
                    evaluation=comparison.summary() if comparison else None,
                )
            )
        return infos

    async def running(self) -> Dict[str, Optional[str]]:
        """Rasa URL -> file name of the model it runs (None when it did not answer)."""
        names = await asyncio.gather(*(self._status(url) for url in self._config.rasa_urls))
        return dict(zip(self._config.rasa_urls, names, strict=True))

    async def running_model(self) -> Optional[Path]:
        """The model the servers run now, as a local file: what a candidate is compared with.

        Strict, unlike :meth:`running`: a server that cannot be reached or refuses the token
        is an error, never "no model running", because then any candidate would pass the gate.
        None only when no server has a model loaded and none was ever activated.

        Raises:
            RasaUnavailable: a server is unreachable, refuses the token or answers oddly;
                the message says what to set.
        """
        names = await asyncio.gather(*(self._serving(url) for url in self._config.rasa_urls))
        for name in names:
            if name:
                try:
                    return self.find(name)
                except ModelNotFound:
                    logger.warning(
                        "the running model %s is not in %s", name, self._config.models_dir
                    )
        history = await self.history()
        return self._find_or_none(history[-1].model) if history else None

    async def comparison(self, model: str) -> Optional[Comparison]:
        """The evaluation stored when ``model`` was trained, if any."""
        raw = await self._redis.get(keys.comparison(model))
        return Comparison.from_dict(json.loads(raw)) if raw else None

    async def save_comparison(self, comparison: Comparison) -> None:
        """Keep the evaluation of a trained model (kept as long as the model)."""
        await self._redis.set(
            keys.comparison(comparison.candidate), json.dumps(comparison.to_dict())
        )

    async def history(self) -> List[Activation]:
        """Activations and rollbacks, oldest first."""
        raw = await self._redis.lrange(keys.ACTIVATIONS, 0, -1)
        return [Activation(**json.loads(r)) for r in raw]

    def find(self, name: str) -> Path:
        """The file of a model given by its file name (models/ first, then the shared cache).

        Raises:
            ModelNotFound: no such model, or a name that is not a plain file name.
        """
        if not isinstance(name, str) or not name.endswith(SUFFIX) or Path(name).name != name:
            raise ModelNotFound(f"{name!r} is not a model file name (like storefront-….tar.gz)")
        for folder in (self._config.models_dir, cache_dir()):
            if (folder / name).is_file():
                return folder / name
        raise ModelNotFound(f"no model {name!r} in {self._config.models_dir}")

    # ---- the model server ----------------------------------------------------------------

    async def active(self) -> Optional[str]:
        """The model activated last (top of the rollback stack): what Rasa servers pull."""
        return await self._redis.lindex(keys.ACTIVE, -1)

    async def active_file(self) -> Path:
        """The file of the active model, which ``GET /models/active`` serves.

        Raises:
            NoActiveModel: nothing was ever activated.
            ModelNotFound: the active model's file is not in this instance's ``models/``.
        """
        name = await self.active()
        if not name:
            raise NoActiveModel(
                "no model is active yet: activate one, or set the first with "
                "`python -m bot.retraining first-model [MODEL]`"
            )
        return self.find(name)

    async def set_first_model(self, model: Optional[str] = None) -> str:
        """Make ``model`` (default: the newest in ``models/``) active, unless one already is.

        For a cluster launcher, before its Rasa servers start and pull: a model an admin
        activated earlier stays active, so restarting the cluster never undoes an activation.

        Returns:
            The name of the active model.

        Raises:
            ModelNotFound: no such model, or no model at all in ``models/``.
        """
        current = await self.active()
        if current:
            return current
        path = self.find(model) if model else self._newest()
        async with self._redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(keys.ACTIVE)
                if await pipe.llen(keys.ACTIVE):
                    return await self.active() or path.name
                record = Activation(path.name, None, FIRST_MODEL_BY, _iso(None), True, False, [])
                pipe.multi()
                pipe.rpush(keys.ACTIVE, path.name)
                pipe.rpush(keys.ACTIVATIONS, json.dumps(record.to_dict()))
                await pipe.execute()
            except WatchError:  # another launcher set one first: keep that one
                return await self.active() or path.name
        return path.name

    # ---- changing ------------------------------------------------------------------------

    async def activate(
        self, model: str, by: Optional[str] = None, override: bool = False
    ) -> Activation:
        """Load ``model`` on every Rasa server, unless it scored worse than the running one.

        Raises:
            ModelNotFound: no such model file.
            ModelWorse: its comparison verdict is "worse" (and no override).
            NotEvaluated: it was never compared with the running model (and no override).
            RasaUnavailable: a server failed to load it (servers already switched are
                switched back).
        """
        path = self.find(model)
        comparison = await self.comparison(model)
        if not override:
            if comparison is None:
                raise NotEvaluated(
                    f"{model} was never evaluated against the running model; "
                    "evaluate it or activate with override"
                )
            if comparison.verdict == "worse":
                raise ModelWorse(
                    f"{model} is worse than {comparison.running}: " + "; ".join(comparison.reasons)
                )
        return await self._switch(path, by, override=override, rollback=False)

    async def rollback(self, by: Optional[str] = None) -> Activation:
        """Go back to the model that ran before the latest activation.

        Raises:
            NothingToRollBack: no earlier model in the history.
            RasaUnavailable: a server failed to load it.
        """
        stack = await self._redis.lrange(keys.ACTIVE, 0, -1)
        if len(stack) < 2:
            raise NothingToRollBack("no earlier model to roll back to")
        path = self.find(stack[-2])
        activation = await self._switch(path, by, override=True, rollback=True)
        return activation

    def prune(self, keep: Optional[int] = None, protect: tuple = ()) -> List[str]:
        """Delete the oldest models beyond ``keep`` (default ``keep_models``), never a protected
        one.

        Returns:
            The names deleted.
        """
        keep = self._config.keep_models if keep is None else keep
        removed = []
        for path in self._files()[keep:]:
            if path.name not in protect:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed

    async def protected(self) -> tuple:
        """Models that must stay on disk: running somewhere, or on the rollback stack."""
        running = {n for n in (await self.running()).values() if n}
        stack = set(await self._redis.lrange(keys.ACTIVE, 0, -1))
        return tuple(running | stack)

    # ---- internals -----------------------------------------------------------------------

    async def _switch(
        self, path: Path, by: Optional[str], *, override: bool, rollback: bool
    ) -> Activation:
        if self._config.model_server:
            return await self._publish(path, by, override=override, rollback=rollback)
        before = await self.running()
        switched: List[str] = []
        try:
            for url in self._config.rasa_urls:
                await self._load(url, path)
                switched.append(url)
        except RasaUnavailable:
            await self._restore(before, switched)
            raise
        previous = next((name for name in before.values() if name), None)
        activation = Activation(path.name, previous, by, _iso(None), override, rollback, switched)
        stack = await self._redis.lrange(keys.ACTIVE, 0, -1)
        async with self._redis.pipeline(transaction=True) as pipe:
            _change_stack(pipe, stack, path.name, previous, rollback)
            pipe.rpush(keys.ACTIVATIONS, json.dumps(activation.to_dict()))
            await pipe.execute()
        return activation

    async def _publish(
        self, path: Path, by: Optional[str], *, override: bool, rollback: bool
    ) -> Activation:
        """Model-server mode: make ``path`` the active model, then wait until every server runs
        it; undo when one does not in time."""
        before = await self.running()
        stack = await self._redis.lrange(keys.ACTIVE, 0, -1)
        previous = next((name for name in before.values() if name), None) or (
            stack[-1] if stack else None
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            _change_stack(pipe, list(stack), path.name, previous, rollback)
            await pipe.execute()
        try:
            await self._wait_until_running(path.name, previous)
        except ModelNotPulled:
            await self._put_stack_back(stack)
            raise
        servers = list(self._config.rasa_urls)
        activation = Activation(path.name, previous, by, _iso(None), override, rollback, servers)
        await self._redis.rpush(keys.ACTIVATIONS, json.dumps(activation.to_dict()))
        return activation

    async def _wait_until_running(self, name: str, previous: Optional[str]) -> None:
        """Until every Rasa server reports ``name`` in ``/status``.

        Raises:
            ModelNotPulled: one still runs another model (or does not answer) at the timeout.
        """
        timeout = self._config.model_server_timeout_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            behind = {url: run for url, run in (await self.running()).items() if run != name}
            if not behind:
                return
            if loop.time() >= deadline:
                raise ModelNotPulled(_not_pulled_message(name, previous, behind, timeout))
            await asyncio.sleep(PULL_CHECK_SECONDS)

    async def _put_stack_back(self, stack: List[str]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.ACTIVE)
            if stack:
                pipe.rpush(keys.ACTIVE, *stack)
            await pipe.execute()

    async def _restore(self, before: Dict[str, Optional[str]], switched: List[str]) -> None:
        for url in switched:
            name = before.get(url)
            previous = self._find_or_none(name) if name else None
            if previous is None:
                continue
            try:
                await self._load(url, previous)
            except RasaUnavailable as exc:
                logger.error("could not switch %s back to %s: %s", url, name, exc)

    async def _load(self, url: str, path: Path) -> None:
        timeout = aiohttp.ClientTimeout(total=LOAD_TIMEOUT)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.put(
                    f"{url}/model", params=self._token(), json={"model_file": str(path.resolve())}
                ) as response:
                    if response.status != 204:
                        body = await response.text()
                        raise RasaUnavailable(
                            f"{url} refused {path.name}: HTTP {response.status} {body[:300]}"
                        )
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise RasaUnavailable(f"{url} did not load {path.name}: {exc!r}") from exc

    async def _status(self, url: str) -> Optional[str]:
        timeout = aiohttp.ClientTimeout(total=STATUS_TIMEOUT)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(f"{url}/status", params=self._token()) as response:
                    if response.status != 200:
                        return None
                    return (await response.json()).get("model_file") or None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None

    async def _serving(self, url: str) -> Optional[str]:
        """The model file ``url`` runs; None only when Rasa says it has no model loaded."""
        timeout = aiohttp.ClientTimeout(total=STATUS_TIMEOUT)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(f"{url}/status", params=self._token()) as response:
                    if response.status == 409:  # Rasa's answer while no model is loaded
                        return None
                    if response.status in (401, 403):
                        raise RasaUnavailable(
                            f"Rasa at {url} refused the API token (HTTP {response.status}): set "
                            f"RASA_TOKEN to the --auth-token it runs with ({TOKEN_HINT})"
                        )
                    if response.status != 200:
                        raise RasaUnavailable(f"Rasa at {url} answered /status {response.status}")
                    return (await response.json()).get("model_file") or None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaUnavailable(
                f"cannot reach Rasa at {url} to learn which model runs ({exc!r}): start it "
                f"(make run), or set RETRAINING_RASA_URLS to where it runs, or compare with a "
                f"model file instead (evaluate --running FILE)"
            ) from exc

    def _token(self) -> Dict[str, str]:
        return {"token": self._config.rasa_token} if self._config.rasa_token else {}

    def _files(self) -> List[Path]:
        folder = self._config.models_dir
        files = [p for p in folder.glob(f"*{SUFFIX}") if p.is_file()] if folder.is_dir() else []
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)

    def _newest(self) -> Path:
        files = self._files()
        if not files:
            raise ModelNotFound(
                f"no model in {self._config.models_dir}: train one first (make train)"
            )
        return files[0]

    def _find_or_none(self, name: str) -> Optional[Path]:
        try:
            return self.find(name)
        except ModelNotFound:
            return None


def set_first_model(config: HandoffConfig, model: Optional[str] = None) -> str:
    """Blocking form of :meth:`ModelRegistry.set_first_model`, for a launcher without a loop.

    Uses the same Redis connection settings as the service (``redis_url``, Sentinel).

    Returns:
        The name of the active model.
    """

    async def set_it() -> str:
        resources = Resources(config)
        try:
            registry = ModelRegistry(resources.redis, config.retraining)
            return await registry.set_first_model(model)
        finally:
            await resources.close()

    return asyncio.run(set_it())


def _change_stack(
    pipe: Any, stack: List[str], name: str, previous: Optional[str], rollback: bool
) -> None:
    """Queue on ``pipe`` the change of the rollback stack ``stack`` for one (de)activation."""
    if rollback:
        pipe.rpop(keys.ACTIVE)
        return
    if previous and not stack:
        stack.append(previous)  # the first activation: remember where we started
        pipe.rpush(keys.ACTIVE, previous)
    if stack[-1:] != [name]:  # activating the running model again changes nothing
        pipe.rpush(keys.ACTIVE, name)


def _not_pulled_message(
    name: str, previous: Optional[str], behind: Dict[str, Optional[str]], timeout: float
) -> str:
    runs = "; ".join(
        f"{url} runs {run}" if run else f"{url} did not answer /status"
        for url, run in behind.items()
    )
    return (
        f"{name} was not running on every Rasa server after {timeout:g} s ({runs}). "
        f"Rasa pulls the model from the handoff service's /models/active every "
        f"wait_time_between_pulls seconds: check endpoints.yml `models:` (url through the load "
        f"balancer, token = RASA_TOKEN) and the Rasa logs. {previous or 'The earlier model'} "
        f"is served again (retraining.model_server_timeout_seconds sets the wait)"
    )


def _iso(epoch: Optional[float]) -> str:
    moment = (
        dt.datetime.now(dt.timezone.utc)
        if epoch is None
        else dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    )
    return moment.isoformat(timespec="seconds")
