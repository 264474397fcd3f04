"""Tests that switch the process's log format give every handler its formatter back."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def formatters_restored() -> Iterator[None]:
    """Restore the formatter of every handler that exists now (pytest's own too)."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    saved = [(handler, handler.formatter) for logger in loggers for handler in logger.handlers]
    try:
        yield
    finally:
        for handler, formatter in saved:
            handler.setFormatter(formatter)
