"""Lines for the end of the test run: tests append, tests/conftest.py's
``pytest_terminal_summary`` prints them where people look."""

from __future__ import annotations

from typing import List

NLU_RESULTS: List[str] = []
# What the fault tests measured (tests/cluster/): load, losses, errors per outage.
FAULT_RESULTS: List[str] = []
