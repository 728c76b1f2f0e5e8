"""The course's policy for grading on submit, from the environment, with safe defaults.

Grading on submit tells a student their score within minutes. Unlimited, that is an oracle:
resubmitting small changes would map out the held-out threshold the grader checks. So a
student gets a few graded attempts per day (in any 24 hours, so the limit means the same in
every time zone), spaced by a cool-down; a submission beyond either is recorded as
``refused`` with a message that says how many attempts were used and when the next one can
be graded. Feedback can also be held until a date (after the due date, say).

What counts as an attempt: a submission that is being or was graded (grading, graded,
fault). A queued one does not: the newer submission supersedes it before it costs anything.
Neither does a grader error (the kit's fault, not the student's), nor a refused one.
The submission's own timestamp (nbgrader's timestamp.txt) is what is compared, not when the
service saw it, so a service that was down and collects a backlog refuses nobody wrongly.

Settings (cnnkit/settings.py, docs/settings.md): CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY,
CNNKIT_ONSUBMIT_COOLDOWN_MINUTES, CNNKIT_ONSUBMIT_FEEDBACK_AT.
"""

import datetime
import os
from dataclasses import dataclass

from . import ledger

DAY = datetime.timedelta(hours=24)
COUNTED = ("grading", "graded", "fault")
DEFAULT_ATTEMPTS, DEFAULT_COOLDOWN = 3, 10.0


def _when(value, up=True):
    """A time for a student, to the minute, in UTC: a time to come is rounded up (a student who
    waits until then is never refused), one past is rounded down (as a clock shows it)."""
    if up and (value.second or value.microsecond):
        value = value.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _number(value):
    return f"{value:g}"


@dataclass(frozen=True)
class Policy:
    attempts_per_day: int = DEFAULT_ATTEMPTS   # 0: no limit
    cooldown_minutes: float = DEFAULT_COOLDOWN  # 0: none
    feedback_at: datetime.datetime | None = None  # None: release as soon as graded

    def __post_init__(self):
        if self.attempts_per_day < 0 or self.cooldown_minutes < 0:
            raise ValueError("attempts per day and the cool-down cannot be negative")

    @classmethod
    def from_environment(cls, environ=os.environ):
        """The policy the environment sets; unset or empty settings keep the defaults. A value
        that does not parse stops the service at its start, rather than grading by a guess."""
        def read(name, convert, default):
            text = environ.get(name, "").strip()
            if not text:
                return default
            try:
                return convert(text)
            except ValueError as error:
                raise ValueError(f"{name}={text!r}: {error}") from None

        return cls(attempts_per_day=read("CNNKIT_ONSUBMIT_ATTEMPTS_PER_DAY", int, DEFAULT_ATTEMPTS),
                   cooldown_minutes=read("CNNKIT_ONSUBMIT_COOLDOWN_MINUTES", float, DEFAULT_COOLDOWN),
                   feedback_at=read("CNNKIT_ONSUBMIT_FEEDBACK_AT", ledger.parse, None))

    def decide(self, earlier, timestamp):
        """None if a submission made at ``timestamp`` may be graded, else why not, for the
        student. ``earlier``: the student's ledger rows for the assignment."""
        at = ledger.parse(ledger.iso(timestamp))
        used = sorted(ledger.parse(row.timestamp) for row in earlier
                      if row.state in COUNTED and ledger.parse(row.timestamp) <= at)
        today = [t for t in used if at - t < DAY]
        if self.attempts_per_day and len(today) >= self.attempts_per_day:
            n = self.attempts_per_day
            nth = today[-n]  # the oldest of the last n: once it is a day old, one is free
            return (f"Not graded: you have used {len(today)} of your {n} graded attempt"
                    f"{'' if n == 1 else 's'} in the last 24 hours (the first at {_when(today[0], up=False)}). "
                    f"Submit again from {_when(nth + DAY)} to be graded.")
        if self.cooldown_minutes and used and at - used[-1] < datetime.timedelta(minutes=self.cooldown_minutes):
            minutes = self.cooldown_minutes
            return (f"Not graded: graded attempts must be at least {_number(minutes)} minute"
                    f"{'' if minutes == 1 else 's'} apart, and your last one was submitted at "
                    f"{_when(used[-1], up=False)}. Submit again from "
                    f"{_when(used[-1] + datetime.timedelta(minutes=minutes))} to be graded.")
        return None

    def held(self, at=None):
        """The message for a graded submission whose feedback is held at ``at``, else None."""
        at = ledger.parse(ledger.iso(at or ledger.now()))
        if self.feedback_at is not None and at < ledger.parse(ledger.iso(self.feedback_at)):
            return f"Graded. Your feedback will be released from {_when(ledger.parse(ledger.iso(self.feedback_at)))}."
        return None
