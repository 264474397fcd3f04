"""CSV cells of the admin export: formulas defused, times readable, nothing else changed."""

from __future__ import annotations

import csv
import io

from handoff.core import exports


def test_cells_that_a_spreadsheet_would_run_get_a_quote():
    for formula in ("=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert exports.safe_cell(formula) == "'" + formula
    for plain in ("refund issued", "1+1", "a=b", "", "'quoted"):
        assert exports.safe_cell(plain) == plain


def test_rows_round_trip_through_the_csv_module():
    columns = ("id", "created_at", "csat", "resolution", "assigned_to", "flag")
    rows = [
        {"id": "c1", "created_at": 1716541200.0, "csat": -1, "resolution": "=cmd|' /C calc'!A0"},
        {"id": 'quote "and", comma', "assigned_to": None, "flag": True},
    ]
    text = exports.csv_header(columns) + exports.csv_rows(rows, columns)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0]["created_at"] == "2024-05-24T09:00:00Z"
    assert parsed[0]["csat"] == "-1"  # numbers are data, not formulas
    assert parsed[0]["resolution"] == "'=cmd|' /C calc'!A0"
    assert parsed[1]["id"] == 'quote "and", comma'
    assert parsed[1]["assigned_to"] == "" and parsed[1]["flag"] == "true"
