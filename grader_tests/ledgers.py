"""What the on-submit ledger's tests share: the course, the clock, a fresh SQLite ledger, and
two connections racing to claim the same rows (SQLite in the fast tier, PostgreSQL in the slow)."""

import contextlib
import threading

from cnnkit_tools.onsubmit import ledger

A = "cnn"                                # the assignment
T = "2026-11-20T09:{:02d}:00+00:00"      # T.format(minute): a submission's timestamp


@contextlib.contextmanager
def sqlite_ledger(folder):
    """A bound engine on a new gradebook file in ``folder``, with the ledger's table made."""
    engine = ledger.engine(f"sqlite:///{folder / 'gradebook.db'}")
    ledger.ensure(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def race_to_claim(url, rows):
    """Two connections to ``url`` claim every row at once; the ids each one won."""
    engines = [ledger.engine(url) for _ in range(2)]
    won, start = [[], []], threading.Barrier(2)

    def claimer(n):
        start.wait()
        won[n].extend(row.id for row in rows if ledger.claim(engines[n], row.id))

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    return won
