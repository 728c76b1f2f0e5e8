"""Where tasks run: one engine, dask.distributed, in two modes.

* Local pool (the default): a ``LocalCluster`` of N worker processes with one thread each,
  on 127.0.0.1, started for the batch and closed after it.
* Scale-out: ``--scheduler tcp://HOST:PORT`` connects to an existing cluster whose workers
  have the kit installed and CIFAR-10 on disk (docs/scale.md).

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

from . import task

ALLOWED_FAILURES = 1
START_TOPIC = "cnnkit-grade-start"


def default_workers():
    """One worker per core this process may use: measured faster than fewer, wider ones
    (docs/scale.md)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def port_range():
    """``CNNKIT_GRADE_PORTS=FIRST-LAST`` keeps the local pool's listening ports in a range
    (a shared machine, a firewall); unset, the operating system picks free ones."""
    spec = os.environ.get("CNNKIT_GRADE_PORTS")
    if not spec:
        return None
    first, last = (int(part) for part in spec.replace(":", "-").split("-"))
    return first, last


@dataclass
class Failure:
    kind: str
    detail: str


class Engine:
    """A dask client on a local pool or an existing scheduler; a context manager."""

    def __init__(self, scheduler=None, workers=None):
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout="30s")
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
            with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                                  "distributed.worker.daemon": False,
                                  "distributed.logging.distributed": "error"}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            host="127.0.0.1", dashboard_address=None,
                                            memory_limit=0, silence_logs=40, **extra)
            self.client = Client(self.cluster)
            self.mode = f"local pool, {workers} worker{'s' * (workers != 1)} x 1 thread"

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

    def workers(self):
        return len(self.client.scheduler_info().get("workers", {}))

    def attempts(self):
        """{task key: number of attempts started} from the scheduler's event log."""
        counts = {}
        for _, message in self.client.get_events(START_TOPIC):
            counts[message["key"]] = counts.get(message["key"], 0) + 1
        return counts

    def run(self, shared, jobs, fn=None):
        """Run fn(shared, job) for every job; yield (job, result or Failure, attempts) as
        each finishes, in completion order."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        fn = fn or task.grade
        batch = uuid.uuid4().hex[:8]
        [shared_future] = self.client.scatter([shared], broadcast=False, hash=False)
        futures = {}
        for job in jobs:
            job = dict(job, key=f"{job['key']}-{batch}")
            future = self.client.submit(fn, shared_future, job, key=job["key"], retries=1, pure=False)
            futures[future] = job
        for future in as_completed(futures):
            job = futures[future]
            attempts = self.attempts().get(job["key"], 1)
            if future.status == "finished":
                yield job, future.result(), max(attempts, 1)
            else:
                error = future.exception()
                if isinstance(error, KilledWorker):
                    failure = Failure("worker_died", f"the worker died while grading, twice "
                                                     f"(last on {error.last_worker.address})")
                    attempts = max(attempts, ALLOWED_FAILURES + 1)
                else:
                    failure = Failure("task_failed", f"{type(error).__name__}: {error}")
                    attempts = max(attempts, 2)
                yield job, failure, attempts
            future.release()

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
