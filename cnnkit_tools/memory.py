"""Peak resident memory, sampled from outside: of marked processes, or of a process and its children."""

import os
import threading

import psutil

from cnnkit.kernel_env import KERNEL_ENV

from cnnkit_grader.judge.tasks import grade_id


class Sampler:
    """Calls ``sample()`` every ``interval`` seconds in a thread while the ``with`` block runs."""

    interval = 0.2

    def sample(self):
        raise NotImplementedError

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class PeakByMarker(Sampler):
    """Largest RSS of any process started while active whose command line holds a marker, per marker."""

    def __init__(self, markers):
        self.markers = markers
        self.peak = {name: 0 for name in markers}
        self._before = {p.pid for p in psutil.process_iter()}

    def sample(self):
        for process in psutil.process_iter(["pid", "cmdline"]):
            if process.info["pid"] in self._before:
                continue
            line = " ".join(process.info["cmdline"] or ())
            for name, marker in self.markers.items():
                # The sandbox's own launchers carry the marker in their arguments too: skip them.
                if marker in line and "bwrap" not in line and "prlimit" not in line:
                    try:
                        self.peak[name] = max(self.peak[name], process.memory_info().rss)
                    except psutil.Error:
                        pass


class PeakTree(Sampler):
    """Largest summed RSS of a process and all its descendants."""

    interval = 0.25

    def __init__(self, pid):
        self.pid, self.peak = pid, 0

    def sample(self):
        try:
            root = psutil.Process(self.pid)
            processes = [root] + root.children(recursive=True)
        except psutil.Error:
            return
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)


class KernelRss(Sampler):
    """A kernel's RSS, sampled often: its peak since the last ``take()``, and the value now."""

    interval = 0.05

    def __init__(self, pid):
        self.process, self.peak = psutil.Process(pid), 0

    def sample(self):
        try:
            self.peak = max(self.peak, self.process.memory_info().rss)
        except psutil.Error:
            pass

    def take(self):
        """(peak since the last take, RSS now), both in bytes; resets the peak."""
        self.sample()
        peak, now = self.peak, self.process.memory_info().rss
        self.peak = now
        return peak, now


def student_env():
    """A student's kernel's environment on the course hub: ours without the grading budget, with
    the allocator setting the hub gives every server (``cnnkit.kernel_env``) unless ours sets it
    (``MALLOC_ARENA_MAX=16``, glibc's own limit on 2 cores, measures a kernel without it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CNNKIT_BUDGET", "NBGRADER_EXECUTION")}
    return dict(KERNEL_ENV, **env)


def per_cell(nb, workdir, env=None, timeout=900, **options):
    """Run nb on a fresh kernel cell by cell: a row per code cell, (index, grade_id, peak, after),
    RSS in bytes of the kernel process. ``env`` is the kernel's environment (default: ours);
    ``options`` go to nbclient's NotebookClient (``allow_errors=True``, say)."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(workdir)}}, **options)
    rows = []
    with client.setup_kernel(env=env):
        with KernelRss(client.km.provisioner.process.pid) as rss:
            rows.append((None, "kernel started", *rss.take()))
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                client.execute_cell(cell, index)
                label = grade_id(cell) or cell.source.splitlines()[0][:40]
                rows.append((index, label, *rss.take()))
    return rows


def main(argv=None):
    """Per-cell kernel RSS of the solved source notebook at the student budget, for each PYTHONPATH given."""
    import argparse
    import tempfile

    from . import course, submissions

    parser = argparse.ArgumentParser(prog="python -m cnnkit_tools.memory", description=main.__doc__)
    parser.add_argument("roots", nargs="+", help="kit checkouts whose cnnkit the kernel imports (PYTHONPATH)")
    args = parser.parse_args(argv)
    source, _ = submissions.source_and_release(course.ROOT)
    env = student_env()
    tables = []
    for root in args.roots:
        with tempfile.TemporaryDirectory(prefix="cnnkit-memory-") as workdir:
            tables.append(per_cell(submissions.read(source), workdir, dict(env, PYTHONPATH=root)))
    mib = 2**20
    print(f"{'cell':>4}  {'grade_id':<28}" + "".join(f"  {'peak':>6} {'after':>6}" for _ in tables)
          + "   (MiB; columns: " + ", ".join(args.roots) + ")")
    for rows in zip(*tables):
        index, name = rows[0][:2]
        print(f"{'' if index is None else index:>4}  {name:<28}"
              + "".join(f"  {peak / mib:6.0f} {after / mib:6.0f}" for _, _, peak, after in rows))
    print("max" + " " * 32 + "".join(f"  {max(r[2] for r in rows) / mib:6.0f} {'':>6}" for rows in tables))


if __name__ == "__main__":
    main()
