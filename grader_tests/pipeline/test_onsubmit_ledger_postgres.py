"""The on-submit ledger in a real PostgreSQL gradebook: the fast tier's ledger tests again
(they take a bound engine), and the atomic claim across two connections, which PostgreSQL
decides by row locks rather than SQLite's one writer. A private server on 127.0.0.1; seconds.
"""

import tempfile
from pathlib import Path

import pytest

from cnnkit_tools.onsubmit import ledger
from cnnkit_tools.servers import postgres

from grader_tests.ledgers import A, T, race_to_claim
from grader_tests.unit import test_onsubmit_ledger as fast

pytestmark = [pytest.mark.slow, pytest.mark.onsubmit]
PG_PORT = 18158  # apart from test_grade_class's


@pytest.fixture(scope="module")
def server():
    try:
        postgres.bindir()
    except postgres.Unavailable:
        pytest.skip("PostgreSQL's server is not installed (scripts/install-postgres)")
    # The postgres user must reach the data folder: not under pytest's 0700 temporary folder.
    with tempfile.TemporaryDirectory(prefix="cnnkit-pg-") as folder:
        with postgres.Server(Path(folder), PG_PORT) as running:
            running.reset()
            yield running


@pytest.fixture
def bind(server):
    engine = ledger.engine(server.url)
    ledger.submission_table.drop(engine, checkfirst=True)
    ledger.ensure(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("case", [
    fast.test_enqueue_is_idempotent_and_a_newer_submission_supersedes_queued_and_grading,
    fast.test_recovery_requeues_what_a_killed_service_left_grading,
    fast.test_a_release_is_recorded_once_and_only_for_the_current_submission,
    fast.test_phases_give_the_latency_of_each_step,
    fast.test_the_daily_limit_refuses_with_the_attempts_used_and_when_to_come_back,
    fast.test_a_queued_submission_is_not_an_attempt_it_is_superseded,
], ids=lambda case: case.__name__[5:])
def test_the_ledger_behaves_the_same_in_postgresql(bind, case):
    case(bind)


def test_two_postgresql_connections_cannot_both_claim_a_row(server, bind):
    rows = [ledger.enqueue(bind, A, f"s{n}", T.format(n))[0] for n in range(30)]
    won = race_to_claim(server.url, rows)
    assert sorted(won[0] + won[1]) == sorted(row.id for row in rows) and not set(won[0]) & set(won[1])
