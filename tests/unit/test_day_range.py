"""Day ranges from query strings: the calendar's edges are refused, not a 500 later."""

from __future__ import annotations

import pytest

from server.domain.errors import InvalidInput
from server.web.aggregate_query import day_range


@pytest.mark.parametrize(
    ("start", "end"),
    [(None, "9999-12-31"), ("9999-12-25", "9999-12-30"), ("0001-01-01", "0001-01-03")],
)
def test_dates_at_the_calendars_edges_are_invalid_input(start: str | None, end: str) -> None:
    # Found by the hostile-query property test: /admin/api/sessions?to=9999-12-31 added a day.
    with pytest.raises(InvalidInput):
        day_range(start, end)


def test_an_ordinary_range_is_every_day_inclusive() -> None:
    assert day_range("2026-11-28", "2026-12-01") == [
        "2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01",
    ]  # fmt: skip
