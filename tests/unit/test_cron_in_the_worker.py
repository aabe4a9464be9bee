"""Schedules accepted here, as Elastic's connectors worker reads them. No node needed.

The worker (elastic/connectors, `connectors/utils.py` `next_run`) does not parse Quartz itself:
it drops the seconds, shifts a numeric day-of-week from Quartz's Sunday-first to cron's
Monday-first numbering, adds `*` for a missing year, turns `?` into `*`, and hands the rest to
the `tzcron` library. The reference (and so this service) accepts the whole Quartz syntax,
which is more than that: these tests pin which accepted schedules a worker can run, so that a
change on either side shows here.
"""

import datetime

import pytest
import pytz
import tzcron

from app.domain import cron

NOW = datetime.datetime(2026, 12, 5, 8, 0, tzinfo=pytz.utc)  # a Saturday


def worker_next_run(expression: str) -> datetime.datetime:
    """The next run the worker computes for a connector's stored `interval`."""
    _, minutes, hours, day_of_month, month, day_of_week, year = (
        expression.split(" ") + [None])[:7]
    if day_of_week.isnumeric():
        day_of_week = (int(day_of_week) - 2) % 7 + 1
    repackaged = f"{minutes} {hours} {day_of_month} {month} {day_of_week} {year or '*'}"
    return next(tzcron.Schedule(repackaged.replace("?", "*"), pytz.utc, NOW))


def at(day: int, hour: int, minute: int = 0, month: int = 12, year: int = 2026):
    return datetime.datetime(year, month, day, hour, minute, tzinfo=pytz.utc)


@pytest.mark.parametrize(("interval", "next_run"), [
    ("0 0 0 * * ?", at(6, 0)),
    ("0 30 * * * ?", at(5, 8, 30)),
    ("0 0 */6 * * ?", at(5, 12)),
    ("0 0/5 14,18 * * ?", at(5, 14)),
    ("0 0 0 ? * mon", at(7, 0)),
    ("0 0 0 ? * 2", at(7, 0)),  # Quartz's 2 is Monday
    ("0 15 10 ? * MON-FRI", at(7, 10, 15)),
    ("0 0 0 ? * SUN,SAT", at(6, 0)),
    ("0 0 0 1 * ?", at(1, 0, month=1, year=2027)),
    ("0 0 12 ? nov-feb *", at(5, 12)),
])
def test_a_worker_runs_an_accepted_schedule_when_quartz_would(interval, next_run):
    assert cron.is_valid(interval)
    assert worker_next_run(cron.normalize(interval)) == next_run


@pytest.mark.parametrize("interval", [
    "0 15 10 L * ?",            # the last day of the month
    "0 15 10 L-2 * ?",          # two days before it
    "0 15 10 LW * ?",           # the last weekday of the month
    "0 15 10 ? * 6L 2002-2005",  # a range of years
    "0\t0 0 * * ?",             # fields separated by a tab
])
def test_a_worker_cannot_schedule_some_quartz_the_reference_accepts(interval):
    """Accepted, as Elasticsearch accepts them, but the worker fails on them when it computes
    the next run: such a connector is never synced on its schedule (docs/worker.md)."""
    assert cron.is_valid(interval)
    with pytest.raises((tzcron.InvalidExpression, ValueError)):
        worker_next_run(cron.normalize(interval))


@pytest.mark.parametrize(("interval", "quartz", "worker"), [
    ("*/5 * * * * ?", "every 5 seconds", at(5, 8, 0)),          # seconds are dropped: every minute
    ("0 15 10 ? * 6L", "the last Friday", at(5, 10, 15)),       # a Saturday: 6L is read as 6
    ("0 0 12 1/5 * ? *", "every 5th day from the 1st", at(1, 12, month=1, year=2027)),
    ("0 15 10 ? * fri#3", "the third Friday, the 18th", at(11, 10, 15)),  # the second
])
def test_a_worker_runs_some_accepted_schedules_at_other_times_than_quartz(interval, quartz, worker):
    """What the worker makes of Quartz it only half reads: a run, but not when Quartz runs it."""
    assert cron.is_valid(interval)
    assert worker_next_run(cron.normalize(interval)) == worker, quartz
