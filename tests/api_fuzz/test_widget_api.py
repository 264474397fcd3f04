"""Generated cases for every operation of the widget API, as each role.

One pytest item runs all operations (a subtest each); see tests/support/api_fuzz.py for the
checks, the callers and what is left out.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import strategies as st

from tests.support import api_fuzz

pytestmark = pytest.mark.model

schema = schemathesis.pytest.from_fixture("widget_schema")


@schema.parametrize()
@schema.given(role=st.sampled_from(api_fuzz.ROLES))
def test_every_widget_operation(case, role, callers, fuzz_run):
    api_fuzz.run_case(case, role, callers, fuzz_run)
