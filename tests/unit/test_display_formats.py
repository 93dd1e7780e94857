"""One way to show a moment and an amount on every page: "2 Dec 2026", "2 Dec 2026, 15:33",
"$4.99", each date inside a <time> that carries the ISO value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from jinja2 import Environment

from app.shared.dates import format_date, format_datetime, machine_datetime
from app.web.templating import date_tag, datetime_tag

MOMENT = datetime(2026, 12, 2, 15, 33, 7, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "moment,day,time",
    [
        (MOMENT, "2 Dec 2026", "2 Dec 2026, 15:33"),
        (datetime(2027, 1, 9, 4, 5, tzinfo=UTC), "9 Jan 2027", "9 Jan 2027, 04:05"),
        (datetime(2026, 5, 31, 0, 0), "31 May 2026", "31 May 2026, 00:00"),  # naive: as is
    ],
)
def test_a_day_reads_day_month_year_and_a_time_is_24_hour(moment, day, time):
    assert format_date(moment) == day
    assert format_datetime(moment) == time


def test_a_moment_is_shown_in_its_own_time_zone():
    tokyo = MOMENT.astimezone(timezone(timedelta(hours=9)))
    assert format_datetime(tokyo) == "3 Dec 2026, 00:33"
    assert machine_datetime(tokyo) == "2026-12-03T00:33:07+09:00"


def test_the_machine_value_is_iso_8601_with_its_offset_and_a_naive_one_is_utc():
    assert machine_datetime(MOMENT) == "2026-12-02T15:33:07+00:00"
    assert machine_datetime(datetime(2026, 12, 2, 15, 33)) == "2026-12-02T15:33:00+00:00"


def test_the_template_filters_wrap_the_text_in_a_time_element():
    env = Environment(autoescape=True)
    env.filters.update(date=date_tag, datetime=datetime_tag)
    html = env.from_string("{{ m | date }} · {{ m | datetime }}").render(m=MOMENT)
    assert html == (
        '<time datetime="2026-12-02T15:33:07+00:00">2 Dec 2026</time> · '
        '<time datetime="2026-12-02T15:33:07+00:00">2 Dec 2026, 15:33</time>'
    )
