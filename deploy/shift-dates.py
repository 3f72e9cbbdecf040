#!/usr/bin/env python3
"""Prints a CDS Hooks request fixture with every FHIR date and dateTime moved forward so that
the fixture's reference time (default 2026-03-10T09:00:00Z, the `now` of fixtures/) becomes the
current time. A running service evaluates requests at its own clock, so a fixture replayed
with curl weeks later would otherwise see its results as old.

    deploy/shift-dates.py fixtures/requests/patient-view-severe.json | curl ... --data-binary @-

Dates keep their precision (a birthDate stays a date, a year stays a year), so ages and
result ages are preserved to the day.
"""
import argparse
import datetime as dt
import json
import re
import sys

DATE_TIME = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def shift_text(text: str, delta: dt.timedelta) -> str:
    m = DATE_TIME.match(text)
    if not m:
        return text
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    if month is None:
        return text if delta.days < 183 else str(int(year) + round(delta.days / 365.25))
    if day is None:
        shifted = dt.date(int(year), int(month), 15) + dt.timedelta(days=delta.days)
        return f"{shifted.year:04d}-{shifted.month:02d}"
    if hour is None:
        shifted = dt.date(int(year), int(month), int(day)) + dt.timedelta(days=delta.days)
        return shifted.isoformat()
    tz = dt.timezone.utc
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    moment = dt.datetime(int(year), int(month), int(day), int(hour), int(minute),
                         int(second or 0), tzinfo=tz) + delta
    out = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        out += fraction
    if zone == "Z":
        out += "Z"
    elif zone:
        out += zone
    return out


def shift(value, delta):
    if isinstance(value, dict):
        return {k: shift(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [shift(v, delta) for v in value]
    if isinstance(value, str):
        return shift_text(value, delta)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("request", help="request JSON file ('-' for standard input)")
    parser.add_argument("--from", dest="reference", default="2026-03-10T09:00:00Z",
                        help="the fixture's reference time (default: %(default)s)")
    parser.add_argument("--to", dest="target", default=None,
                        help="the time it should become (default: now, UTC)")
    args = parser.parse_args()
    reference = dt.datetime.fromisoformat(args.reference.replace("Z", "+00:00"))
    target = (dt.datetime.fromisoformat(args.target.replace("Z", "+00:00")) if args.target
              else dt.datetime.now(dt.timezone.utc))
    # Whole minutes keep the output readable; the sub-minute remainder does not matter clinically.
    delta = dt.timedelta(minutes=int((target - reference).total_seconds() // 60))
    source = sys.stdin if args.request == "-" else open(args.request, encoding="utf-8")
    with source:
        request = json.load(source)
    json.dump(shift(request, delta), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
