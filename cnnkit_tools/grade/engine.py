"""Where tasks run: one engine, dask.distributed, in two modes.

* Local pool (the default): a ``LocalCluster`` of N worker processes with one thread each,
  on tls://127.0.0.1 with credentials made for the batch (tls.local_pool), no dashboard,
  started for the batch and closed after it.
* Scale-out: ``--scheduler tls://HOST:PORT`` connects to an existing cluster with its
  certificates (tls.for_scheduler) and checks, before anything is sent, that the scheduler
  and every worker have the client's kit and the data (clustercheck; docs/scale.md).

Either way, a task that raises is retried once (``retries=1``), and a task whose worker
dies is rescheduled on another worker once: the scheduler's ``allowed-failures`` is 1 (set
in the local pool's config, by servers.dask_cluster for the scripted cluster, and on an
existing scheduler at connect time). A task that fails twice comes back as a grader error
with the reason; the batch goes on. Each attempt announces itself to the scheduler's event
log, so the client can say how many attempts a submission took even when a worker died.
"""

import os
import uuid
from dataclasses import dataclass

import dask
from distributed.diagnostics.plugin import WorkerPlugin

from cnnkit_grader.boundary import files

from . import clustercheck, task, tls

ALLOWED_FAILURES = 1
START_TOPIC = "cnnkit-grade-start"


def default_workers():
    """One single-thread worker per core this process may use (docs/scale.md says why; the
    benchmark's --threads-check compares it with fewer, wider workers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_each(engine, at_once):
    """TensorFlow threads (CNNKIT_THREADS) for each of ``at_once`` submissions graded together.

    On this machine's pool they share its cores, so a lone submission graded on submit trains
    on all of them rather than on the one a class gives each single-thread worker
    (docs/scale.md). A cluster's workers are machines this process cannot count: one each."""
    if not engine.local:
        return 1
    return max(1, default_workers() // max(1, at_once))


def port_range():
    """``CNNKIT_GRADE_PORTS=FIRST-LAST`` keeps the local pool's listening ports in a range
    (a shared machine, a firewall); unset, the operating system picks free ones."""
    spec = os.environ.get("CNNKIT_GRADE_PORTS")
    if not spec:
        return None
    first, last = (int(part) for part in spec.replace(":", "-").split("-"))
    return first, last


class NoHTTP(WorkerPlugin):
    """A worker plugin: stop the worker's HTTP server as the worker starts (see
    Engine._close_http)."""
    name = "cnnkit-no-http"

    def setup(self, worker):
        worker.http_server.stop()


# Each pool worker runs one grading at a time: one thread for the numeric libraries too
# (Dask's default pre-spawn-environ, less MALLOC_TRIM_THRESHOLD_, which glibc reads only as a
# process starts).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass
class Failure:
    kind: str
    detail: str


class Engine:
    """A dask client on a local pool or an existing scheduler; a context manager."""

    def __init__(self, scheduler=None, workers=None, security=None):
        """``security``: the distributed.security.Security for ``scheduler`` (from
        tls.for_scheduler; None only for an accepted plain tcp://). Raises tls.Refused when
        the cluster lacks the client's kit or the data; nothing has been sent then."""
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout="30s", security=security)
            try:
                clustercheck.check(self.client)
            except BaseException:
                self.client.close()
                raise
            self._allow_one_retry()
            self.mode = f"dask scheduler {scheduler}"
        else:
            workers = workers or default_workers()
            ports = port_range()
            extra = {}
            if ports:
                first, last = ports
                extra = {"scheduler_port": first,
                         "port": f"{first + 1}:{last}", "worker_port": f"{first + 1}:{last}"}
            # No HTTP routes (Dask's dashboard, /health, /metrics, /info): a peer learns nothing
            # over HTTP while the pool starts, and _close_http then stops those servers.
            scratch = self._private_scratch()
            # The workers' thread limits go in each worker's own environment (``env``), not in
            # Dask's pre-spawn-environ, which each nanny writes into *this* process's
            # os.environ before spawning: OMP_NUM_THREADS=1 there reaches everything the caller
            # starts later (GNU nproc reads it, so `dask worker --nworkers $(nproc)` started 1).
            with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                                  "temporary-directory": scratch,  # the scheduler's too
                                  "distributed.scheduler.http.routes": [],
                                  "distributed.worker.http.routes": [],
                                  "distributed.nanny.pre-spawn-environ": {}}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            protocol="tls://", host="127.0.0.1",
                                            security=tls.local_pool(), dashboard_address=None,
                                            memory_limit=0, silence_logs=50, env=dict(WORKER_ENV),
                                            local_directory=scratch, **extra)
            self.client = Client(self.cluster)
            self._close_http()
            self.mode = f"local pool, {workers} worker{'s' * (workers != 1)} x 1 thread"

    def _private_scratch(self):
        """Dask's scratch space (worker folders, lock files) in a 0700 folder of this batch's,
        not the shared, world-listable /tmp/dask-scratch-space; removed by close()."""
        # 0700, and swept by the next engine if this process is killed
        self._scratch = str(files.process_folder("cnnkit-dask-"))
        return self._scratch

    def _close_http(self):
        """Dask starts an HTTP server in the scheduler and every worker even without a
        dashboard (the scheduler's on port 8787): the local pool listens only where TLS
        guards it. A plugin closes it in every worker, those a nanny restarts included."""
        def stop(dask_scheduler):
            dask_scheduler.http_server.stop()
        self.client.run_on_scheduler(stop)
        self.client.register_plugin(NoHTTP())

    def _allow_one_retry(self):
        """Make an existing scheduler give up on a task after its second worker dies."""
        def configure(dask_scheduler):
            previous = dask_scheduler.allowed_failures
            dask_scheduler.allowed_failures = ALLOWED_FAILURES
            return previous
        try:
            self.previous_allowed_failures = self.client.run_on_scheduler(configure)
        except Exception as error:  # a scheduler that refuses remote calls: say so, go on
            self.previous_allowed_failures = None
            print(f"warning: could not set allowed-failures on the scheduler ({error}); "
                  "start it with DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1")

    @property
    def local(self):
        """Whether the workers are this machine's own pool (threads_each)."""
        return self.cluster is not None

    def workers(self):
        return len(self.client.scheduler_info().get("workers", {}))

    def attempts(self):
        """{task key: number of attempts started} from the scheduler's event log."""
        counts = {}
        for _, message in self.client.get_events(START_TOPIC):
            counts[message["key"]] = counts.get(message["key"], 0) + 1
        return counts

    def threads(self):
        return sum(w.get("nthreads", 1) for w in self.client.scheduler_info().get("workers", {}).values())

    def run(self, shared, jobs, fn=None):
        """Run fn(shared, job) for every job; yield (job, result or Failure, attempts) as
        each finishes, in completion order.

        No more tasks are in flight than the cluster has threads (re-read as workers come
        and go). Dask would otherwise queue tasks on busy workers, and a worker's death
        counts against every task queued there: an innocent submission could be charged
        with two deaths it never ran into. This way a worker holds only what it runs."""
        from distributed import as_completed

        fn = fn or task.grade
        batch = uuid.uuid4().hex[:8]
        # What every task shares travels inside each task, not as a task or scattered data of
        # its own: a task with a dependency is placed by data locality, next to the worker
        # that holds the shared result, queued behind whatever runs there; a worker's death
        # would then count against it. A task without dependencies goes to an idle worker.
        pending, in_flight = list(jobs), {}
        finished = as_completed()

        def fill():
            while pending and len(in_flight) < max(1, self.threads()):
                job = dict(pending.pop(0))
                job["key"] = f"{job['key']}-{batch}"
                future = self.client.submit(fn, shared, job, key=job["key"], retries=1, pure=False)
                in_flight[future] = job
                finished.add(future)

        fill()
        for future in finished:
            job = in_flight.pop(future)
            fill()
            yield (job, *self._outcome(future, job))
            future.release()

    def _outcome(self, future, job):
        from distributed.scheduler import KilledWorker

        attempts = max(self.attempts().get(job["key"], 1), 1)
        if future.status == "finished":
            return future.result(), attempts
        error = future.exception()
        if isinstance(error, KilledWorker):
            return Failure("worker_died", f"the worker died while grading, twice (last on "
                                          f"{error.last_worker.address})"), max(attempts, ALLOWED_FAILURES + 1)
        return Failure("task_failed", f"{type(error).__name__}: {error}"), max(attempts, 2)

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        if getattr(self, "_scratch", None):
            import shutil

            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
