"""Build an assignment's instructor report: data, executed notebook, self-contained HTML page.

    python -m cnnkit_tools.report ASSIGNMENT [--course DIR] [--out DIR] [--db URL] [--budget NAME]

writes into OUT (default ``reports/ASSIGNMENT/`` in the course folder):

- ``index.html``: the page to open in a browser; ``report.ipynb`` executed with nbclient
  and exported by nbconvert's HTMLExporter, code hidden, plots embedded, no scripts fetched;
- ``report.ipynb``: the executed notebook, to open in Jupyter and change;
- ``*.png``: each plot, as drawn;
- ``items.csv``, ``parts.csv``, ``by_student_and_cell.csv`` and ``data/``: the tables.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat

from . import collect, template
from .gradebook import GradebookError

TEMPLATES = Path(__file__).with_name("templates")
PLOTS = ("scores", "items", "heldout", "timing")  # the PNG files template.py may draw
EXECUTE_TIMEOUT = 300  # seconds per cell; the slowest draws a handful of plots


class ReportError(RuntimeError):
    """The report notebook failed to run; the message holds the error and the kernel's log."""


def execute(nb, folder, timeout=EXECUTE_TIMEOUT):
    """Run the notebook in a fresh kernel with ``folder`` as its working directory.

    The kernel's own stderr (start-up warnings) goes to a scratch log, shown only if the
    notebook fails.
    """
    from nbclient import NotebookClient

    env_before = {k: os.environ.get(k) for k in ("MPLBACKEND", "PYDEVD_DISABLE_FILE_VALIDATION")}
    os.environ["MPLBACKEND"] = "Agg"  # no display
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # debugpy's frozen-modules warning
    try:
        with tempfile.TemporaryFile("w+") as log:
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(folder)}})
            try:
                client.execute(stderr=log)
            except Exception as err:
                log.seek(0)
                raise ReportError(f"the report notebook failed: {err}\nkernel log:\n{log.read()[-3000:]}") from err
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def export_html(nb):
    """The executed notebook as one HTML page: outputs only, images inline, no remote scripts."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="cnnkit_report", extra_template_basedirs=[str(TEMPLATES)],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    return body


def build(course_dir, assignment, out=None, url=None, budget=None):
    """Write the report for ``assignment`` and return the path of its ``index.html``."""
    course_dir = Path(course_dir)
    out = Path(out) if out else course_dir / "reports" / assignment
    data = collect.collect(course_dir, assignment, url=url, budget=budget)
    # No plot from an earlier run with more data may linger beside the page. Only the
    # report's own files go: --out may name a folder that holds other things too.
    for name in PLOTS:
        (out / f"{name}.png").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    collect.write(data, out)
    nb = execute(template.notebook(assignment), out)
    nbformat.write(nb, str(out / "report.ipynb"))
    page = out / "index.html"
    page.write_text(export_html(nb), encoding="utf-8")
    return page


def main(argv=None):
    parser = argparse.ArgumentParser(prog="kit report", description=(
        "Write an instructor report for an autograded assignment: score distributions, item "
        "statistics, the most frequent failure messages, held-out accuracy, outcomes and timings."))
    parser.add_argument("assignment", help="assignment id, e.g. compile_and_train")
    parser.add_argument("--course", default=".", help="course folder (default: the current one)")
    parser.add_argument("--out", help="folder to write (default: COURSE/reports/ASSIGNMENT)")
    parser.add_argument("--db", help="gradebook URL (default: $NBGRADER_DB_URL, else COURSE/gradebook.db)")
    parser.add_argument("--budget", help="budget the submissions were graded under, for the held-out "
                        "threshold and calibration (default: what the autograded notebooks record, else "
                        "$CNNKIT_BUDGET, else grading)")
    args = parser.parse_args(argv)
    try:
        page = build(args.course, args.assignment, out=args.out, url=args.db, budget=args.budget)
    except (GradebookError, ReportError) as err:
        print(f"kit report: {err}", file=sys.stderr)
        return 2
    print(f"report: {page}")
    return 0
