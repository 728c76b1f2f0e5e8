"""A timestamp for every phase of grading one notebook (PrairieLearn's habit).

Phases are kept in the order they happen; a phase that happens more than once (a handover
after each graded part) accumulates. The record goes into the autograded notebook's metadata
(``nb.metadata["cnnkit"]["phases"]``), where ``./kit grade``, ``./kit bench`` and the
report read it.
"""

import datetime
import time


class Phases:
    def __init__(self):
        self.started = time.monotonic()
        self.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.entries = {}   # name -> [start offset, seconds]

    def add(self, name, started, ended=None):
        ended = time.monotonic() if ended is None else ended
        entry = self.entries.setdefault(name, [round(started - self.started, 3), 0.0])
        entry[1] += ended - started

    def timed(self, name):
        phases = self

        class _Timer:
            def __enter__(self):
                self.t0 = time.monotonic()

            def __exit__(self, *exc):
                phases.add(name, self.t0)
        return _Timer()

    def record(self):
        return [{"phase": name, "start": start, "seconds": round(seconds, 3)}
                for name, (start, seconds) in self.entries.items()]

    def seconds(self):
        return round(time.monotonic() - self.started, 3)
