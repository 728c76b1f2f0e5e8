"""Trusted side of the probe: start it beside the notebook, and take in what it answered.

The probe (``inside/probe.py``) defines the student's functions from the notebook's cells and
calls them with inputs drawn by ``fresh``, in a sandbox of its own. It needs nothing from the
kernel, so it runs while the notebook runs, on the core the notebook leaves idle.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

from cnnkit_grader.boundary import files, fresh, sandbox
from cnnkit_grader.judge import tasks

ANSWER_LIMITS = files.Limits(files=20, file_bytes=50 * 2**20, total_bytes=120 * 2**20)
OUT_BYTES = 256 * 2**20


def request(nb, inputs, isolated=None):
    """What a probe runs: the setup cell whole, then function cells whole and other cells'
    definitions; or, for an isolated answer (``tasks.ISOLATED``), only its own cells."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    by_id = {tasks.grade_id(cell): cell.source for cell in code if tasks.grade_id(cell)}
    if isolated is not None:
        cells = [{"source": cell.source, "whole": True} for cell in code
                 if tasks.grade_id(cell) in tasks.ISOLATED[isolated] and not tasks.is_test(cell)]
        updates = ""
    else:
        skip = {tasks.SETUP_CELL, tasks.DATA_CELL, tasks.UPDATES_CELL}
        cells = [{"source": cell.source, "whole": tasks.grade_id(cell) in tasks.FUNCTION_CELLS}
                 for cell in code if tasks.grade_id(cell) not in skip and not tasks.is_test(cell)]
        updates = by_id.get(tasks.UPDATES_CELL, "")
    return {"fresh": inputs, "setup": by_id.get(tasks.SETUP_CELL, ""), "updates_cell": updates, "cells": cells,
            "answers": list(tasks.probe_answers(isolated)), "answers_file": tasks.probe_file(isolated)}


class ProbeRun:
    """One probe process: ``start()`` it, then ``finish(answers_dir)`` takes its answers in."""

    def __init__(self, nb, inputs, slot, timeout, log, isolated=None):
        self.nb, self.inputs, self.slot, self.timeout, self.log = nb, inputs, slot, timeout, log
        self.isolated = isolated   # None: the probe of every answer but tasks.ISOLATED's
        self.process, self.started, self._stack = None, None, None

    def start(self):
        import contextlib

        self._stack = contextlib.ExitStack()
        # Both folders are this submission's alone (0700, in the slot's private folder): the fresh
        # inputs and the probe's answers are for the grader and this slot's user only.
        self.request_dir = sandbox.private_folder(self.slot, "cnnkit-probe-in-")
        self._stack.callback(files.remove_tree, self.request_dir, self.log)
        np.savez(self.request_dir / "arrays.npz", **fresh.training_arrays(self.inputs))
        sandbox.give(self.request_dir, self.slot)
        self.out_dir, _ = self._stack.enter_context(sandbox.scratch_folder("cnnkit-probe-out-", OUT_BYTES,
                                                                           self.slot))
        sandbox.give(self.out_dir, self.slot)
        argv = [sys.executable, "-m", "cnnkit_grader.inside.probe", str(self.request_dir), str(self.out_dir)]
        env = None
        if sandbox.enabled():
            argv = sandbox.command(argv, self.slot, writable=[self.out_dir], readonly=[self.request_dir],
                                   cwd=self.out_dir, memory=sandbox.HELPER_MEMORY, with_data=False, with_inside=True,
                                   env={"TF_NUM_INTRAOP_THREADS": 1, "TF_NUM_INTEROP_THREADS": 1,
                                        "OMP_NUM_THREADS": 1})
        else:
            env = dict(os.environ, PYTHONPATH=str(sandbox.INSIDE.parent.parent), TF_NUM_INTRAOP_THREADS="1")
        self.started = time.monotonic()
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, env=env, cwd=self.out_dir, start_new_session=True)
        try:  # the request goes on standard input: no file left for student code to read again
            self.process.stdin.write(json.dumps(request(self.nb, self.inputs, self.isolated)).encode())
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        return self

    def finish(self, answers_dir):
        """Wait for the probe (within its time), take its answers into answers_dir; return a note or None."""
        note = None
        try:
            remaining = max(1.0, self.timeout - (time.monotonic() - self.started))
            self.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            note = (f"Your functions did not finish within {self.timeout} s when the grader called them "
                    "with its own inputs; tests that needed the rest are marked failed.")
        stderr = self.process.stderr.read().decode(errors="replace")[-2000:] if self.process.stderr else ""
        if self.process.returncode not in (0, None) and note is None:
            self.log.warning("the probe exited with %s: %s", self.process.returncode, stderr)
            note = ("The grader's fresh process that calls your functions stopped early (exit "
                    f"{self.process.returncode}); tests that needed the rest are marked failed.")
        try:
            names = files.list_names(self.out_dir)
            wanted = [tasks.probe_file(self.isolated)] + [f"{model}.keras" for answer in tasks.probe_answers(self.isolated)
                                                          for model in tasks.MODELS.get(answer, ())]
            files.take(self.out_dir, [n for n in names if n in wanted], answers_dir, ANSWER_LIMITS)
        finally:
            self._stack.close()
        return note
