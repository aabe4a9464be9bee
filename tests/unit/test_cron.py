"""Scheduling intervals: Quartz cron expressions as the reference checks them. No node needed."""

import pytest

from app.domain import cron


@pytest.mark.parametrize(("expression", "stored"), [
    ("0 0 0 * * ?", "0 0 0 * * ?"),
    ("0 0 0 ? * mon", "0 0 0 ? * MON"),
    ("0 0/5 14,18 * * ?", "0 0/5 14,18 * * ?"),
    ("*/5 * * * * ?", "*/5 * * * * ?"),
    ("0 15 10 ? * MON-FRI", "0 15 10 ? * MON-FRI"),
    ("0 0 22-2 * * ?", "0 0 22-2 * * ?"),
    ("0 0 12 ? nov-feb *", "0 0 12 ? NOV-FEB *"),
    ("0 15 10 L * ?", "0 15 10 L * ?"),
    ("0 15 10 L-2 * ?", "0 15 10 L-2 * ?"),
    ("0 15 10 LW * ?", "0 15 10 LW * ?"),
    ("0 15 10 15W * ?", "0 15 10 15W * ?"),
    ("0 15 10 ? * 6L", "0 15 10 ? * 6L"),
    ("0 15 10 ? * fri#3", "0 15 10 ? * FRI#3"),
    ("0 15 10 ? * 6L 2002-2005", "0 15 10 ? * 6L 2002-2005"),
    ("0 0 12 1/5 * ? *", "0 0 12 1/5 * ? *"),
    ("0\t0 0 * * ?", "0\t0 0 * * ?"),
])
def test_valid_expressions_are_stored_upper_cased(expression, stored):
    assert cron.normalize(expression) == stored
    assert cron.is_valid(expression)


@pytest.mark.parametrize(("expression", "reason"), [
    ("61 0 0 * * ?", "Second values must be between 0 and 59"),
    ("0 60 0 * * ?", "Minute values must be between 0 and 59"),
    ("0 0 24 * * ?", "Hour values must be between 0 and 23"),
    ("0 0 0 32 * ?", "Day-of-Month values must be between 1 and 31"),
    ("0 0 0 ? 13 *", "Month values must be between 1 and 12"),
    ("0 0 0 ? * 8", "Day-of-Week values must be between 1 and 7"),
    ("0 0 0 * * ? 1969", "Year values must be between 1970 and 2199"),
    ("0 0 0 * * *", "support for specifying both a day-of-week AND a day-of-month parameter is "
                    "not implemented."),
    ("0 0 0 ? * ?", "'?' can only be specified for Day-of-Month -OR- Day-of-Week."),
    ("? 0 0 * * ?", "'?' can only be specified for Day-of-Month or Day-of-Week."),
    ("0 0 0 * *", "unexpected end of expression at pos [9]."),
    ("0 0 0 * * ? * 1", "too many fields: expected 6 or 7"),
    ("0 0 0 ? JAN-XYZ *", "invalid Month value [XYZ]"),
    ("0 0 0 ? * FUN", "invalid Day-of-Week value [FUN]"),
    ("0 0 0 ? * 6#6", "a numeric value between 1 and 5 must follow the '#' option"),
    ("0 0 0 ? * 1#1,2#2", "support for specifying multiple \"nth\" days is not implemented."),
    ("0 0 0 L,5 * ?", "support for specifying 'L' with other days of the Day-of-Month is not "
                      "implemented"),
    ("0 0 0 L-31 * ?", "offset from last day must be <= 30"),
    ("0 0/61 0 * * ?", "increment [61] must be between 1 and 59"),
    ("0 0 0 * * ? 2005-2002", "Start year must be less than stop year"),
    ("a 0 0 * * ?", "invalid Second value [A]"),
    ("0 0 0 5W-1 * ?", "invalid Day-of-Month value [5W]"),
    ("0 0 0 1--2 * ?", "illegal characters [1--2] in the Day-of-Month field"),
    ("", "unexpected end of expression at pos [0]."),
])
def test_invalid_expressions_are_refused_with_a_reason(expression, reason):
    with pytest.raises(cron.InvalidCron) as raised:
        cron.normalize(expression)
    assert str(raised.value) == reason
    assert not cron.is_valid(expression)
