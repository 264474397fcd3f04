"""The demo order store's fixed calendar: every test seeds and reads it as of ``TODAY``."""

from __future__ import annotations

import datetime as dt

TODAY = dt.date(2026, 11, 23)


def days_ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)
