"""Training in the background: one job at a time, progress in Redis, cancellable, never harmful.

A job runs ``rasa train`` in its own process group, reads the epoch progress
bars from its output and keeps the progress in Redis, where every web worker
and the CLI can read it. A Redis lock (renewed while the job runs, expiring if
its process dies) keeps a second training from starting anywhere. The model
is trained into a scratch folder and moved into ``models/`` only when complete,
so a failed or cancelled training leaves nothing behind and the running model
untouched. Activation is a separate, explicit step (:mod:`bot.retraining.model_registry`).

By default a job is incremental: it continues the running model's weights for a share of the
epochs (``rasa train --finetune``), minutes instead of ten. Rasa itself decides whether that is
allowed (its ``FinetuningValidator``: config unchanged except epochs, same intents, entities and
actions); when it refuses, or no model runs, the job trains from scratch and says why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional

import yaml
from redis.asyncio import Redis

from bot.nlu import spacy_pipeline
from bot.nlu.training import model_file, model_fingerprint, train_command
from bot.retraining import keys
from bot.retraining.comparison import compare_async, subprocess_env
from bot.retraining.errors import InvalidInput, JobRunning, NoJob
from bot.retraining.model_registry import ModelRegistry
from handoff.core.settings import RetrainingConfig

TERMINAL = ("done", "failed", "cancelled")
LOG_LINES = 20

_EPOCHS = re.compile(r"Epochs:\s*(\d+)%\|[^|]*\|\s*(\d+)/(\d+)")
_STARTED = re.compile(r"Starting to train component '([\w.]+)'")
_FINISHED = re.compile(r"Finished training component '([\w.]+)'")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_REFUSED = re.compile(r"Cannot finetune because [^.]*")
INCREMENTAL_SUFFIX = "-inc"  # incremental models: same inputs as a full one, other weights


@dataclass
class Job:
    """One training job and everything known about its progress and result."""

    id: str
    phase: str = "queued"  # then training, evaluating, and done, failed or cancelled
    by: Optional[str] = None
    config: str = "config.yml"
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    component: Optional[str] = None
    epoch: int = 0
    epochs: int = 0
    percent: float = 0.0
    log_tail: List[str] = field(default_factory=list)
    model: Optional[str] = None
    running_model: Optional[str] = None
    error: Optional[str] = None
    comparison: Optional[Dict[str, Any]] = None
    mode: str = "incremental"  # or "full": what was asked, then what was trained
    base_model: Optional[str] = None  # the model an incremental job continued
    full_reason: Optional[str] = None  # why an incremental job trained from scratch

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form (the admin API's training status)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Job":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class Progress:
    """Turns ``rasa train`` output into component, epoch and an overall percentage.

    The overall percentage weighs each component by its epochs, as configured
    (components without ``epochs`` in the config count once their bar shows).
    """

    def __init__(self, planned: Dict[str, int]):
        self.planned = dict(planned)
        self.done: Dict[str, int] = {}
        self.component: Optional[str] = None
        self.epoch = self.epochs = 0
        self.tail: Deque[str] = deque(maxlen=LOG_LINES)
        self._last_was_bar = False
        self.refused: Optional[str] = None  # Rasa's reason for refusing to finetune

    def feed(self, line: str) -> bool:
        """Read one output line; True if the progress changed."""
        line = _ANSI.sub("", line).rstrip()
        if not line.strip():
            return False
        refused = _REFUSED.search(line)
        if refused:
            self.refused = refused.group(0)
        bar = _EPOCHS.search(line)
        if self._last_was_bar and bar:
            self.tail[-1] = line  # a progress bar redraws itself: keep only its latest state
        else:
            self.tail.append(line)
        self._last_was_bar = bool(bar)
        if bar:
            self.epoch, self.epochs = int(bar.group(2)), int(bar.group(3))
            if self.component and self.component not in self.planned:
                self.planned[self.component] = self.epochs
            return True
        started, finished = _STARTED.search(line), _FINISHED.search(line)
        if started:
            self.component, self.epoch, self.epochs = started.group(1), 0, 0
            return True
        if finished and finished.group(1) in self.planned:
            self.done[finished.group(1)] = self.planned[finished.group(1)]
            return True
        return False

    @property
    def percent(self) -> float:
        total = sum(self.planned.values())
        if not total:
            return 0.0
        training = self.component in self.planned and self.component not in self.done
        current = self.epoch if training else 0
        return round(min(100.0, 100.0 * (sum(self.done.values()) + current) / total), 1)


def planned_epochs(config_file: Path) -> Dict[str, int]:
    """Component name -> epochs, for the components of a Rasa config that train in epochs."""
    data = yaml.safe_load(config_file.read_text()) or {}
    plan = {}
    for part in ("pipeline", "policies"):
        for component in data.get(part) or []:
            if isinstance(component, dict) and "epochs" in component:
                plan[str(component["name"]).split(".")[-1]] = int(component["epochs"])
    return plan


class TrainingJobs:
    """Start, watch and cancel training jobs of one project.

    Args:
        redis: asyncio client (job records, the lock).
        config: Retraining settings.
        registry: Finds the running model to compare with (default: one on ``redis``/``config``).
        model_name: Models are named ``<model_name>-<fingerprint>.tar.gz``, like
            :func:`bot.nlu.training.ensure_model` names them, so it recognises them.
        lock_ttl: Seconds the lock outlives a process that died.
    """

    def __init__(
        self,
        redis: Redis,
        config: RetrainingConfig,
        *,
        registry: Optional[ModelRegistry] = None,
        model_name: str = "storefront",
        lock_ttl: int = 60,
    ):
        self._redis = redis
        self._config = config
        self._registry = registry or ModelRegistry(redis, config)
        self._model_name = model_name
        self._lock_ttl = lock_ttl
        self._tasks: Dict[str, asyncio.Task] = {}
        self._work: Dict[str, asyncio.Task] = {}

    async def start(
        self, config_path: Optional[str] = None, by: Optional[str] = None, full: bool = False
    ) -> Job:
        """Start training in the background and return the queued job.

        Args:
            config_path: Rasa config inside the project (default ``config.yml``).
            by: Who started it.
            full: Train from scratch even when ``retraining.incremental`` is on.

        Raises:
            JobRunning: another job is running (here or in another process).
            InvalidInput: the config is missing or outside the project.
        """
        config_file = self._config_file(config_path or "config.yml")
        job = Job(
            id=uuid.uuid4().hex[:12],
            by=by,
            config=str(config_file.relative_to(self._config.project_dir.resolve())),
            started_at=_now(),
            mode="full" if full or not self._config.incremental else "incremental",
        )
        if not await self._redis.set(keys.LOCK, job.id, nx=True, ex=self._lock_ttl):
            running = await self._redis.get(keys.LOCK) or ""
            raise JobRunning(f"training job {running or '?'} is running; wait or cancel it")
        await self._save(job)
        await self._redis.set(keys.LAST_JOB, job.id)
        self._tasks[job.id] = asyncio.create_task(self._run(job, config_file))
        return job

    async def status(self) -> Optional[Job]:
        """The running job, or the last one (None if no job ever ran)."""
        job_id = await self._redis.get(keys.LAST_JOB)
        return await self.get(job_id) if job_id else None

    async def get(self, job_id: str) -> Job:
        """One job by id; a job whose process died is reported failed.

        Raises:
            NoJob: unknown id.
        """
        raw = await self._redis.get(keys.job(job_id))
        if raw is None:
            raise NoJob(f"no training job {job_id!r}")
        job = Job.from_dict(json.loads(raw))
        if not job.finished and (await self._redis.get(keys.LOCK) or "") != job.id:
            raw = await self._redis.get(keys.job(job_id))  # it may have finished just now
            job = Job.from_dict(json.loads(raw))
            if not job.finished:
                job.phase, job.finished_at = "failed", _now()
                job.error = "the training process stopped without finishing (service restarted?)"
                await self._save(job)
        return job

    async def cancel(self) -> Job:
        """Ask the running job to stop; returns it once stopped (or after 30 s).

        Raises:
            NoJob: nothing is running.
        """
        job = await self.status()
        if job is None or job.finished:
            raise NoJob("no training job is running")
        await self._redis.set(keys.cancel(job.id), "1", ex=3600)
        work = self._work.get(job.id)
        if work is not None:
            work.cancel()  # ours: stop now instead of at the next poll
        try:
            return await self.wait(job.id, timeout=30)
        except asyncio.TimeoutError:
            return await self.get(job.id)

    async def wait(
        self,
        job_id: str,
        timeout: Optional[float] = None,
        on_progress: Optional[Callable[[Job], None]] = None,
        interval: float = 0.5,
    ) -> Job:
        """Poll until the job finished; ``on_progress`` sees every state read.

        Raises:
            asyncio.TimeoutError: still running after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            job = await self.get(job_id)
            if on_progress is not None:
                on_progress(job)
            if job.finished:
                return job
            if deadline is not None and loop.time() > deadline:
                raise asyncio.TimeoutError(f"training job {job_id} still {job.phase}")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """Stop this process's jobs (service shutdown): they end as cancelled."""
        for work in self._work.values():
            work.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    # ---- the job ---------------------------------------------------------------------------

    async def _run(self, job: Job, config_file: Path) -> None:
        work = asyncio.create_task(self._train_and_evaluate(job, config_file))
        self._work[job.id] = work
        watcher = asyncio.create_task(self._watch(job.id, work))
        try:
            await work
            job.phase = "done"
        except asyncio.CancelledError:
            job.phase, job.error = "cancelled", None
        except Exception as exc:  # noqa: BLE001 - any failure ends the job, reported to the admin
            job.phase, job.error = "failed", str(exc) or type(exc).__name__
        finally:
            watcher.cancel()
            job.finished_at = _now()
            await self._save(job)
            await self._release(job.id)
            self._work.pop(job.id, None)
            self._tasks.pop(job.id, None)

    async def _watch(self, job_id: str, work: asyncio.Task) -> None:
        """Renew the lock; cancel the work when someone (any process) asked to."""
        renew_every, waited = self._lock_ttl / 3, 0.0
        while not work.done():
            await asyncio.sleep(0.5)
            waited += 0.5
            if await self._redis.exists(keys.cancel(job_id)):
                work.cancel()
                return
            if waited >= renew_every:
                waited = 0.0
                await self._redis.expire(keys.LOCK, self._lock_ttl)

    async def _train_and_evaluate(self, job: Job, config_file: Path) -> None:
        job.phase = "training"
        await self._save(job)
        # Fail now, not after minutes of training, when the gate cannot see what Rasa runs.
        base = await self._registry.running_model()
        if job.mode == "incremental" and base is None:
            self._train_from_scratch(job, "no model runs to continue from")
        model = await self._train(job, config_file, base)
        job.model, job.phase, job.percent = model.name, "evaluating", 100.0
        running = await self._registry.running_model()
        job.running_model = running.name if running else None
        await self._save(job)
        reviewed = self._config.path(self._config.reviewed_file)
        comparison = await compare_async(
            model,
            running,
            self._config.path(self._config.test_set),
            reviewed if reviewed.exists() else None,
            max_drop=self._config.max_accuracy_drop,
        )
        await self._registry.save_comparison(comparison)
        job.comparison = comparison.to_dict()
        self._registry.prune(protect=await self._registry.protected() + (model.name,))

    async def _train(self, job: Job, config_file: Path, base: Optional[Path]) -> Path:
        project = self._config.project_dir.resolve()
        relative = str(config_file.relative_to(project))
        if "SpacyNLP" in config_file.read_text():
            await asyncio.to_thread(
                spacy_pipeline.ensure_built, project / spacy_pipeline.DEFAULT_OUTPUT
            )
        name = f"{self._model_name}-{await asyncio.to_thread(model_fingerprint, project, relative)}"
        # Any model of these inputs will do for an incremental job; a full one must be full.
        names = [name] + ([name + INCREMENTAL_SUFFIX] if job.mode == "incremental" else [])
        for candidate in names:
            if model_file(self._config.models_dir, candidate).exists():
                job.log_tail = [f"model up to date: {candidate} (same data and config)"]
                return model_file(self._config.models_dir, candidate)
        scratch = self._config.models_dir / f".training-{job.id}"
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            if job.mode == "incremental":
                job.base_model = base.name
                incremental = name + INCREMENTAL_SUFFIX
                refused = await self._rasa_train(job, relative, scratch, incremental, base)
                if refused:
                    self._train_from_scratch(job, f"Rasa refused to finetune: {refused}")
                else:
                    name = incremental
            if job.mode == "full":
                await self._rasa_train(job, relative, scratch, name)
            target = model_file(self._config.models_dir, name)
            os.replace(model_file(scratch, name), target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return target

    @staticmethod
    def _train_from_scratch(job: Job, reason: str) -> None:
        job.mode, job.base_model, job.full_reason = "full", None, reason
        job.log_tail = [f"training from scratch: {reason}"]

    async def _rasa_train(
        self, job: Job, config: str, out: Path, name: str, base: Optional[Path] = None
    ) -> Optional[str]:
        """``bot.nlu.training``'s ``rasa train`` command, run here to stream its progress.

        With ``base``, finetunes it; returns Rasa's reason when it refuses to (None otherwise).
        """
        fraction = self._config.finetune_epoch_fraction
        command = train_command(
            config,
            out.resolve(),
            name,
            finetune=base.resolve() if base else None,
            epoch_fraction=fraction,
        )
        planned = planned_epochs(self._config.project_dir / config)
        if base is not None:  # Rasa trains ceil(epochs * fraction) (its default recipe)
            planned = {k: math.ceil(v * fraction) for k, v in planned.items()}
        progress = Progress(planned)
        if job.log_tail:
            progress.tail.extend(job.log_tail)  # keep "training from scratch: why" in view
        proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=self._config.project_dir,
            env=subprocess_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )  # its own process group: cancel stops its children too
        try:
            await self._follow(job, proc, progress)
            code = await proc.wait()
        except asyncio.CancelledError:
            await _stop(proc)
            raise
        if code != 0 and base is not None and progress.refused:
            return progress.refused
        if code != 0 or not model_file(out, name).exists():
            last_lines = " | ".join(list(progress.tail)[-5:])
            raise RuntimeError(f"rasa train failed (exit {code}): {last_lines}")
        return None

    async def _follow(self, job: Job, proc: Any, progress: Progress) -> None:
        loop = asyncio.get_running_loop()
        saved_at, pending = 0.0, ""
        while True:
            chunk = await proc.stdout.read(4096)
            if not chunk:
                break
            # tqdm redraws with \r: treat it as a line end.
            parts = re.split(r"[\r\n]", pending + chunk.decode(errors="replace"))
            pending = parts.pop()
            changed = any([progress.feed(line) for line in parts])
            if changed and loop.time() - saved_at > 0.5:
                self._copy_progress(job, progress)
                await self._save(job)
                saved_at = loop.time()
        progress.feed(pending)
        self._copy_progress(job, progress)

    @staticmethod
    def _copy_progress(job: Job, progress: Progress) -> None:
        job.component, job.epoch, job.epochs = progress.component, progress.epoch, progress.epochs
        job.percent, job.log_tail = progress.percent, list(progress.tail)

    # ---- storage ---------------------------------------------------------------------------

    async def _save(self, job: Job) -> None:
        await self._redis.set(keys.job(job.id), json.dumps(job.to_dict()), ex=30 * 86400)

    async def _release(self, job_id: str) -> None:
        # Only our own lock: compare and delete in one step.
        await self._redis.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
            "return 0",
            1,
            keys.LOCK,
            job_id,
        )
        await self._redis.delete(keys.cancel(job_id))

    def _config_file(self, config_path: str) -> Path:
        project = self._config.project_dir.resolve()
        path = (project / config_path).resolve()
        if project not in path.parents:
            raise InvalidInput(f"the training config must be inside the project: {config_path}")
        if not path.is_file():
            raise InvalidInput(f"no training config {config_path} in {project}")
        return path


async def _stop(proc: Any) -> None:
    """SIGTERM the whole process group, SIGKILL if it lingers."""
    if proc.returncode is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), grace)
            return
        except asyncio.TimeoutError:
            continue


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
