"""The retraining workflow from a terminal: the same steps as the admin page.

    python -m bot.retraining review [--threshold 0.5] [--reason fallback] [--json]
    python -m bot.retraining label ITEM_ID confirm|relabel|out_of_scope|ignore [--intent X]
    python -m bot.retraining faq TOPIC --example "..." --example "..." --answer "..."
    python -m bot.retraining train [--config config.yml]
    python -m bot.retraining evaluate MODEL [--running MODEL]
    python -m bot.retraining models | activate MODEL [--override] | rollback
    python -m bot.retraining first-model [MODEL]   (model-server mode: before Rasa starts)

Settings come from handoff.yml (``retraining:``; ``--handoff-config`` or
``HANDOFF_CONFIG`` for another file) and the environment, like the service.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from typing import Any, Callable, List, Optional

from bot.retraining import faq, labels, review
from bot.retraining.comparison import Comparison, compare
from bot.retraining.jobs import Job, TrainingJobs
from bot.retraining.model_registry import ModelRegistry
from handoff.core.errors import ConfigError, DomainError, InvalidInput
from handoff.core.resources import Resources
from handoff.core.settings import HandoffConfig, load_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.retraining", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--handoff-config", help="settings file (default handoff.yml / $HANDOFF_CONFIG)"
    )
    parser.add_argument("--redis-url", help="overrides redis_url of the settings")
    parser.add_argument("--project-dir", help="overrides retraining.project_dir")
    parser.add_argument("--by", default=None, help="who does it (default: your login name)")
    commands = parser.add_subparsers(dest="command", required=True)

    cmd = commands.add_parser("review", help="list messages to review")
    cmd.add_argument("--threshold", type=float)
    cmd.add_argument("--since")
    cmd.add_argument("--until")
    cmd.add_argument("--intent")
    cmd.add_argument("--reason", choices=review.REASONS)
    cmd.add_argument("--all", action="store_true", help="also items already decided")
    cmd.add_argument("--json", action="store_true")

    cmd = commands.add_parser("label", help="decide about one review item")
    cmd.add_argument("item_id")
    cmd.add_argument("action", choices=labels.ACTIONS)
    cmd.add_argument("--intent", help="the intent, for relabel")

    cmd = commands.add_parser("intents", help="intents a message may be labelled with")

    cmd = commands.add_parser("faq", help="add a faq/<topic> with examples and its answer")
    cmd.add_argument("topic")
    cmd.add_argument("--example", action="append", default=[], required=True)
    cmd.add_argument("--answer", required=True)

    cmd = commands.add_parser("train", help="train a candidate model and evaluate it")
    cmd.add_argument("--config", default="config.yml", help="Rasa config inside the project")
    cmd.add_argument("--full", action="store_true", help="train from scratch, not incrementally")
    cmd.add_argument("--json", action="store_true", help="print the finished job as JSON")

    cmd = commands.add_parser("evaluate", help="compare a model with the running one")
    cmd.add_argument("model")
    cmd.add_argument("--running", help="model to compare with (default: the one Rasa runs)")
    cmd.add_argument("--json", action="store_true")

    commands.add_parser("models", help="list models and where they run")
    cmd = commands.add_parser("activate", help="load a model on every Rasa server")
    cmd.add_argument("model")
    cmd.add_argument("--override", action="store_true", help="even if it scored worse")
    commands.add_parser("rollback", help="go back to the model that ran before")
    cmd = commands.add_parser(
        "first-model", help="model server: make a model active unless one already is"
    )
    cmd.add_argument("model", nargs="?", help="model file name (default: the newest)")
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        config = _config(args)
        code = asyncio.run(_dispatch(args, config))
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2 if isinstance(exc, (InvalidInput, ConfigError)) else 1
    sys.exit(code)


def _config(args: argparse.Namespace) -> HandoffConfig:
    import dataclasses
    from pathlib import Path

    config = load_config(args.handoff_config)
    if args.redis_url:
        config = dataclasses.replace(config, redis_url=args.redis_url)
    if args.project_dir:
        config = dataclasses.replace(
            config,
            retraining=dataclasses.replace(config.retraining, project_dir=Path(args.project_dir)),
        )
    return config


async def _dispatch(args: argparse.Namespace, config: HandoffConfig) -> int:
    resources = Resources(config)
    try:
        handler: Callable[..., Any] = COMMANDS[args.command]
        return await handler(args, config.retraining, resources.redis) or 0
    finally:
        await resources.close()


# ---- commands ---------------------------------------------------------------------------------


async def _review(args, config, redis) -> int:
    items = await review.build_review(
        redis,
        config,
        threshold=args.threshold,
        since=args.since,
        until=args.until,
        intent=args.intent,
        reason=args.reason,
        include_decided=args.all,
    )
    if args.json:
        print(json.dumps([i.to_dict() for i in items], indent=2))
        return 0
    if not items:
        print("nothing to review")
    for item in items:
        confidence = "-" if item.confidence is None else f"{item.confidence:.2f}"
        print(
            f"{item.id}  x{item.count:<3} {item.predicted_intent or '-':<24} {confidence:>5}  "
            f"[{', '.join(item.reasons)}] {item.status if item.status != 'open' else ''}"
        )
        print(f"    {item.text}")
    return 0


async def _label(args, config, redis) -> int:
    decision = await labels.label(
        redis, config, args.item_id, args.action, intent=args.intent, by=_by(args)
    )
    target = decision.intent or "(not used for training)"
    print(f"{decision.action}: {decision.text!r} -> {target}")
    return 0


async def _intents(args, config, redis) -> int:
    print("\n".join(labels.known_intents(config)))
    return 0


async def _faq(args, config, redis) -> int:
    entry = faq.add_faq(config, args.topic, args.example, args.answer)
    print(
        f"added {entry.intent} ({len(entry.examples)} examples) and {entry.response}; "
        f"train a model to use it"
    )
    return 0


async def _train(args, config, redis) -> int:
    from tqdm import tqdm

    jobs = TrainingJobs(redis, config)
    job = await jobs.start(config_path=args.config, by=_by(args), full=args.full)
    bar = tqdm(total=100, desc="training", unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")

    def show(current: Job) -> None:
        bar.set_description(current.phase)
        bar.n = current.percent
        detail = (
            f"{current.component or ''} epoch {current.epoch}/{current.epochs}"
            if current.epochs
            else (current.component or "")
        )
        bar.set_postfix_str(detail, refresh=False)
        bar.refresh()

    try:
        job = await jobs.wait(job.id, on_progress=show)
    except (KeyboardInterrupt, asyncio.CancelledError):
        await jobs.cancel()
        raise
    finally:
        bar.close()
    if args.json:
        print(json.dumps(job.to_dict(), indent=2))
    elif job.phase == "done":
        print(f"trained {job.model}")
        print(format_comparison(Comparison.from_dict(job.comparison)))
    else:
        print(f"training {job.phase}: {job.error or ''}", file=sys.stderr)
        print("\n".join(job.log_tail[-10:]), file=sys.stderr)
    return 0 if job.phase == "done" else 1


async def _evaluate(args, config, redis) -> int:
    registry = ModelRegistry(redis, config)
    candidate = registry.find(args.model)
    running = registry.find(args.running) if args.running else await registry.running_model()
    reviewed = config.path(config.reviewed_file)
    comparison = await asyncio.to_thread(
        compare,
        candidate,
        running,
        config.path(config.test_set),
        reviewed if reviewed.exists() else None,
        max_drop=config.max_accuracy_drop,
    )
    await registry.save_comparison(comparison)
    print(
        json.dumps(comparison.to_dict(), indent=2) if args.json else format_comparison(comparison)
    )
    return 0


async def _models(args, config, redis) -> int:
    registry = ModelRegistry(redis, config)
    for info in await registry.list():
        evaluation = info.evaluation or {}
        verdict = evaluation.get("verdict", "not evaluated")
        active = f"  ACTIVE on {', '.join(info.active_on)}" if info.active_on else ""
        print(f"{info.name}  {info.created_at}  {info.size / 1e6:.1f} MB  {verdict}{active}")
    return 0


async def _activate(args, config, redis) -> int:
    activation = await ModelRegistry(redis, config).activate(
        args.model, by=_by(args), override=args.override
    )
    print(
        f"{activation.model} active on {', '.join(activation.servers) or 'no server'} "
        f"(was {activation.previous or 'unknown'})"
    )
    return 0


async def _rollback(args, config, redis) -> int:
    activation = await ModelRegistry(redis, config).rollback(by=_by(args))
    print(f"rolled back to {activation.model} on {', '.join(activation.servers)}")
    return 0


async def _first_model(args, config, redis) -> int:
    print(await ModelRegistry(redis, config).set_first_model(args.model))
    return 0


COMMANDS = {
    "review": _review,
    "label": _label,
    "intents": _intents,
    "faq": _faq,
    "train": _train,
    "evaluate": _evaluate,
    "models": _models,
    "activate": _activate,
    "rollback": _rollback,
    "first-model": _first_model,
}


def format_comparison(comparison: Comparison) -> str:
    """The comparison side by side, as a terminal table."""
    lines = [
        f"candidate {comparison.candidate}  vs  running {comparison.running or '(none)'}",
        f"{'data set':<12} {'metric':<10} {'running':>8} {'candidate':>10}",
    ]
    for name, data in comparison.datasets.items():
        for metric in ("accuracy", "macro_f1"):
            old = "-" if data.running is None else f"{getattr(data.running, metric):.1%}"
            new = getattr(data.candidate, metric)
            lines.append(f"{name:<12} {metric:<10} {old:>8} {new:>10.1%}")
        for row in [r for r in data.changes if r["change"]][:5]:
            lines.append(
                f"    {row['intent']:<30} F1 {row['running']:.2f} -> {row['candidate']:.2f}"
            )
    lines.append(f"verdict: {comparison.verdict.upper()} ({'; '.join(comparison.reasons)})")
    return "\n".join(lines)


def _by(args: argparse.Namespace) -> str:
    if args.by:
        return args.by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
