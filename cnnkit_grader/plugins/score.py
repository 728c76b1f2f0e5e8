"""nbgrader preprocessors: judge every graded cell outside the student's kernel, and record it.

``ScoreOutside`` runs in nbgrader's own process after ``GuardedExecute`` and before
``SaveAutoGrades``. It reads the grading record ``GuardedExecute`` built (``record``): the
answers the probe and the kernel handed over and the figures it measured. It builds the
evidence record, asks the rules (``tasks.judge``) for
each graded cell's verdict, and writes it into the cell: an error
output when it fails, none when it passes, and ``cell.metadata["cnnkit"]["verdict"]`` for
reports. ``SaveAutoGrades`` then records exactly these verdicts, so the gradebook,
``export`` and feedback all agree.

A submission that is the release untouched (``GuardedExecute`` ran nothing) is not judged from
evidence: every graded test cell gets ``tasks.untouched``, written the same way.

``FinishRecord`` runs last and writes the notebook's outcome and phase timings into
``nb.metadata["cnnkit"]``.
"""

import json
import time
from pathlib import Path

from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.preprocessors import NbGraderPreprocessor

from cnnkit_grader.boundary import files, measurement
from cnnkit_grader.boundary.outputs import error_output
from cnnkit_grader.judge import tasks
from cnnkit_grader.judge.evidence import Evidence
from cnnkit_grader.plugins.record import of as record_of

MAX_ANSWER = 5 * 2**20


def read_answers(folder):
    """``{answer: record}`` from the probe's answers.json and the kernel's ``<answer>.json`` files."""
    answers = {}
    for name in files.list_names(folder):
        path = Path(folder) / name
        if not name.endswith(".json") or not path.is_file() or path.stat().st_size > MAX_ANSWER:
            continue
        try:
            content = json.loads(path.read_text())
        except (ValueError, RecursionError):  # RecursionError: "[[[[...", nested to exhaust the parser
            continue
        probe_run = [i for i in (None, *tasks.ISOLATED) if tasks.probe_file(i) == name]
        if probe_run and isinstance(content, dict):  # each probe process answers only its own answers
            own = tasks.probe_answers(probe_run[0])
            answers.update({k: v for k, v in content.items() if k in own and isinstance(v, dict)})
        elif name[:-len(".json")] in tasks.KERNEL_ANSWERS and isinstance(content, dict):
            answers[name[:-len(".json")]] = content
    return answers


def verdict_outputs(cell, verdict):
    """Keep what the student printed; the verdict alone decides: an error when it fails."""
    kept = [o for o in cell.outputs if o.output_type == "display_data"
            or (o.output_type == "stream" and o.name == "stdout")]
    if verdict.passed:
        return kept + ([new_output("stream", name="stdout", text=verdict.message + "\n")] if verdict.message else [])
    return kept + [error_output("AssertionError", verdict.message)]


def record(cell, verdict):
    cell.outputs = verdict_outputs(cell, verdict)
    found = {"passed": verdict.passed, "rule": verdict.failure, "message": verdict.message,
             "points": cell.metadata.get("nbgrader", {}).get("points")}
    if verdict.measured:
        found["measured"] = verdict.measured
    cell.metadata["cnnkit"] = {"verdict": found}


class ScoreOutside(NbGraderPreprocessor):

    def preprocess(self, nb, resources):
        grading = record_of(resources, "ScoreOutside")
        try:
            with grading.phases.timed("judge"):
                if grading.untouched:   # the release untouched: nothing ran, the verdicts are known
                    def verdict(grade):
                        return tasks.untouched(grade, unreadable=grading.unreadable)
                else:
                    evidence = Evidence(
                        budget=grading.budget, threshold=grading.threshold, fresh=grading.fresh,
                        answers=read_answers(grading.answers), models=grading.models,
                        heldout_labels=measurement.heldout_set()[1],
                        fault=grading.fault["message"] if grading.fault else None,
                        not_run=frozenset(grading.not_run))

                    def verdict(grade):
                        return tasks.judge(grade, evidence)
                for cell in nb.cells:
                    grade = tasks.graded_id(cell)
                    if grade in tasks.TASKS:
                        record(cell, verdict(grade))
        finally:
            grading.discard_answers()
        if grading.notes:
            nb.cells.insert(0, new_markdown_cell("**Grader's notes**\n\n" + "\n".join(f"- {note}" for note in grading.notes)))
        nb.metadata["cnnkit"] = grading.metadata()
        grading.scored_at = time.monotonic()
        return nb, resources


class FinishRecord(NbGraderPreprocessor):
    """Last in the pipeline: the time spent writing grades, and every phase, into the notebook."""

    def preprocess(self, nb, resources):
        if resources.get("cnnkit") is None:
            return nb, resources
        grading = record_of(resources, "FinishRecord")
        phases = grading.phases
        phases.add("write grades", grading.scored_at or time.monotonic())
        nb.metadata.setdefault("cnnkit", {}).update(
            phases=phases.record(), started_at=phases.started_at, seconds=phases.seconds())
        return nb, resources
