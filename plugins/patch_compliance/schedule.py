"""When a declared maintenance window ran: the start times of its ``cron(...)`` or ``at(...)`` schedule.

The report needs the last run of each window before a host's scan to tell a window that did not
install from one that has not come yet. SSM's schedule expressions are EventBridge's: six cron
fields (minutes, hours, day of month, month, day of week 1-7 = SUN-SAT or names, year) with ``*``,
``?``, lists, ranges and steps, evaluated in the window's time zone. ``rate(...)`` has no fixed start
and ``L``, ``W`` and ``#`` are not evaluated here: such a schedule gives ``None`` (runs unknown).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_CRON = re.compile(r"cron\((.+)\)")
_AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)")
_MONTHS = {m: n for n, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                                       "DEC"), start=1)}
_DAYS = {d: n for n, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
# (low, high, names) of minutes, hours, day of month, month, day of week, year
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (1, 7, _DAYS), (1970, 2199, {}))


def _values(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int] | None:
    """The values a cron field allows (``?``/``*``: all); None for what is not evaluated (L, W, #)."""
    numeric = text.upper()
    for name, number in names.items():
        numeric = numeric.replace(name, str(number))
    if re.search(r"[LW#]", numeric):
        return None
    found: set[int] = set()
    for part in numeric.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span in ("*", "?"):
            first, last = low, high
        else:
            first_text, _, last_text = span.partition("-")
            first = int(first_text)
            last = int(last_text) if last_text else (high if step_text else first)
        if not low <= first <= last <= high or step < 1:
            raise ValueError(f"cron field {text!r}: out of [{low}, {high}]")
        found.update(range(first, last + 1, step))
    return frozenset(found)


def runs(schedule: str, timezone: str, start: datetime, end: datetime) -> list[datetime] | None:
    """The UTC start times of the schedule's runs in ``[start, end)``; None if it is not evaluated here."""
    at = _AT.fullmatch(schedule.strip())
    zone = ZoneInfo(timezone)
    if at:
        moment = datetime.fromisoformat(at[1]).replace(tzinfo=zone).astimezone(UTC)
        return [moment] if start <= moment < end else []
    cron = _CRON.fullmatch(schedule.strip())
    if not cron:
        return None  # rate(...): no fixed start
    fields = cron[1].split()
    if len(fields) != len(_FIELDS):
        raise ValueError(f"{schedule!r}: a cron expression has six fields")
    allowed = [_values(text, low, high, names) for text, (low, high, names) in zip(fields, _FIELDS, strict=True)]
    if any(values is None for values in allowed):
        return None
    minutes, hours, days, months, weekdays, years = (v or frozenset() for v in allowed)
    found = []
    day: date = (start.astimezone(zone) - timedelta(days=1)).date()
    while day <= (end.astimezone(zone) + timedelta(days=1)).date():
        weekday = (day.weekday() + 1) % 7 + 1  # Python: Monday 0; SSM: Sunday 1
        if day.year in years and day.month in months and day.day in days and weekday in weekdays:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)
                    if start <= moment < end:
                        found.append(moment)
        day += timedelta(days=1)
    return sorted(found)
