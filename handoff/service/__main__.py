"""Run the handoff service: ``python -m handoff.service`` (host and port from the config)."""

from __future__ import annotations

import logging
import sys

from handoff.core import log_redaction
from handoff.core.errors import ConfigError
from handoff.core.settings import load_config
from handoff.service.app import create_app


def main() -> int:
    """Load the config, build the app and serve until interrupted."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log_redaction.install()  # no token in any log line (docs/security.md)
    try:
        config = load_config()
        app = create_app(config, name="handoff")
    except ConfigError as exc:
        print(f"handoff: {exc.message}", file=sys.stderr)
        return 2
    app.run(host=config.host, port=config.port, access_log=False, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
