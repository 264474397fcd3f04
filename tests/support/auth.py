"""Credentials the tests sign and log in with."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, Optional

from handoff.core.settings import REPO_ROOT

# The handoff service's signing secret in tests (long enough for HS256).
SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
# Real scrypt, cheaper cost: logins are most of the API tests' time otherwise.
# tests/handoff/core/test_auth.py checks the production parameters separately.
FAST_SCRYPT_N = 2**10
# Every account the API tests create has this password.
PASSWORD = "s3cret-pass"


def run_accounts_cli(
    *args: str, env: Dict[str, str], stdin: Optional[str] = None, timeout: int = 120
) -> subprocess.CompletedProcess:
    """``python -m handoff.service.accounts`` as a real process, with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "handoff.service.accounts", *args],
        input=stdin,
        text=True,
        capture_output=True,
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        timeout=timeout,
    )
