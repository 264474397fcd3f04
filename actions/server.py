"""Run the action server with operations endpoints: ``python -m actions.server``.

The same server and the same command-line options as ``python -m rasa_sdk`` (``--port``,
``--actions``, ``--cors``, TLS, logging options; ``--actions`` defaults to this package),
plus what every process of the product serves:

- ``GET /ready``: 200 when Redis answers (the handoff action queues conversations
  there), 503 ``not_ready`` otherwise; ``GET /health`` stays rasa-sdk's liveness.
- ``GET /metrics``: the Prometheus scrape (:mod:`handoff.core.process_metrics`).
- error answers counted by status, and ``log_format`` (text or json) applied.

They are attached through rasa-sdk's own plugin hook (``attach_sanic_app_extensions``)
to rasa-sdk's own app and ``run``; only its few lines of logging set-up are repeated, to
apply the log format before the first line. rasa-sdk imports every module of the actions
package, this one too: nothing here runs at import. Keep one Sanic worker
(``ACTION_SERVER_SANIC_WORKERS`` unset): the metrics are per process.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, List, Optional

import pluggy
from rasa_sdk import utils
from rasa_sdk.cli.arguments import add_endpoint_arguments
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.services import default_services
from handoff.core import log_format, process_metrics
from handoff.core.errors import ConfigError
from handoff.core.readiness import Readiness, redis_check
from handoff.core.settings import load_config

SERVER = "actions"
hookimpl = pluggy.HookimplMarker("rasa_sdk")


class OperationsPlugin:
    """rasa-sdk plugin adding ``/ready``, ``/metrics``, error counting and the log format."""

    def __init__(self, configured_format: str) -> None:
        """Remember the log format to apply once the server's logging is set up."""
        self.configured_format = configured_format

    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        """Called by rasa-sdk with its app, before it runs."""
        app.add_route(ready, "/ready", methods=["GET"])
        app.add_route(metrics, "/metrics", methods=["GET"])
        app.register_middleware(count_errors, "response")
        app.register_listener(self.use_log_format, "before_server_start")

    async def use_log_format(self, app: Sanic, _loop: Any = None) -> None:
        """Apply the log format to the handlers rasa-sdk configured (coloredlogs, files)."""
        log_format.apply(self.configured_format)


async def ready(request: Request) -> HTTPResponse:
    """200 when Redis answers, 503 (``not_ready``) otherwise."""
    redis = default_services().resources.redis
    result = Readiness({"redis": await redis_check(redis, SERVER)})
    return response.json(result.body, status=result.status)


async def metrics(request: Request) -> HTTPResponse:
    """This process's metrics in Prometheus' text format."""
    body, content_type = process_metrics.exposition()
    return response.raw(body, content_type=content_type)


async def count_errors(request: Request, resp: HTTPResponse) -> None:
    """Response middleware: count every answer of 400 or more, by status."""
    if resp is not None:
        process_metrics.count_http_status(SERVER, resp.status)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse rasa-sdk's options, attach the operations plugin and serve until stopped."""
    args = argument_parser().parse_args(argv)
    try:
        configured_format = load_config().log_format
    except ConfigError as exc:
        print(f"action server: {exc.message}", file=sys.stderr)
        return 2
    _configure_logging(args, configured_format)
    # Imported once logging is set up: it imports sanic_cors, whose import-time warning
    # would otherwise be the one line of the log that is not in the configured format.
    from rasa_sdk import endpoint

    plugin_manager().register(OperationsPlugin(configured_format))
    endpoint.run(
        args.actions or "actions",
        args.port,
        args.cors,
        args.ssl_certificate,
        args.ssl_keyfile,
        args.ssl_password,
        args.auto_reload,
    )
    return 0


def argument_parser() -> argparse.ArgumentParser:
    """rasa-sdk's options (``rasa_sdk.endpoint.create_argument_parser``, same calls)."""
    parser = argparse.ArgumentParser(description="starts the action endpoint")
    add_endpoint_arguments(parser)
    utils.add_logging_level_option_arguments(parser)
    utils.add_logging_file_arguments(parser)
    return parser


def _configure_logging(args: Any, configured_format: str) -> None:
    """rasa-sdk's own logging set-up (``rasa_sdk.__main__``), then the product's format.

    Done here rather than through ``main_from_args`` so that the server's first lines
    ("Starting action endpoint server...") are in the configured format already.
    """
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME),
        args.log_file,
        args.loglevel,
        args.logging_config_file,
    )
    utils.update_sanic_log_level()
    log_format.apply(configured_format)


if __name__ == "__main__":
    sys.exit(main())
