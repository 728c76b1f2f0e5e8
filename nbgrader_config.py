"""nbgrader settings for the "Compile and Train a CNN" course.

Run every nbgrader command from this folder. Settings a hub admin may need to change come
from environment variables, so this file stays the same on every machine.
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - nbgrader defines get_config when it loads this file
HERE = Path(__file__).resolve().parent
# The grader (cnnkit_grader/) lives in this course folder, not in the package students install.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

c.CourseDirectory.course_id = os.environ.get("NBGRADER_COURSE_ID", "cnn-compile-train")
c.CourseDirectory.root = str(HERE)

# The gradebook: SQLite beside this file by default. For PostgreSQL, set e.g.
# NBGRADER_DB_URL=postgresql://nbgrader@127.0.0.1/cnn_course
c.CourseDirectory.db_url = os.environ.get("NBGRADER_DB_URL", f"sqlite:///{HERE / 'gradebook.db'}")

# The exchange is the folder through which `nbgrader release_assignment`, `fetch_assignment`,
# `submit` and `collect` pass notebooks on a shared hub. It must exist and be world-writable
# (chmod 777) on that machine; see the README. Tests point it at a temporary folder.
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT", "/srv/nbgrader/exchange")

# nbgrader's default of 30 s per cell would kill training. The largest training cell takes
# about 40 s under the grading budget and about a minute under the student budget.
c.Execute.timeout = int(os.environ.get("CNNKIT_CELL_TIMEOUT", 600))
c.Execute.interrupt_on_timeout = True

# Keep a submission that prints in a loop from bloating the autograded notebook and feedback.
c.LimitOutput.max_lines = 300
c.LimitOutput.max_traceback = 60

# A student who deletes a test cell gets it back (and its points at stake) instead of losing it.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Models and caches that a run of the notebook leaves behind are not part of an assignment.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "*.keras", "*.h5"]

# ---- Grading that student code cannot fool (cnnkit/grader/, README "Grading safely").
# The kernel runs sandboxed (bubblewrap, no network, as $CNNKIT_SANDBOX_USER when root) in a
# scratch folder; faults, floods and stderr are handled per cell; after each graded test
# cell the kernel hands over its answers, and ScoreOutside judges every graded cell from
# them, from the saved models (read as JSON, then loaded with safe_mode=True in a sandbox)
# and from the held-out images, outside the student's process, before SaveAutoGrades.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,  # noqa: E402
                                    DeduplicateIds, GetGrades, IgnorePattern, LimitOutput,
                                    OverwriteCells, OverwriteKernelspec, SaveAutoGrades)
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402

from cnnkit_grader.execute import GuardedExecute  # noqa: E402
from cnnkit_grader.feedback import HideTestCode  # noqa: E402
from cnnkit_grader.intake import DropEmptyMetadata, recover_renamed  # noqa: E402
from cnnkit_grader.score import ScoreOutside  # noqa: E402

c.Autograde.exporter_class = "cnnkit_grader.intake.TolerantExporter"
c.Autograde.pre_convert_hook = recover_renamed
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, DropEmptyMetadata, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [
    GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, ScoreOutside,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.GenerateFeedback.preprocessors = [GetGrades, HideTestCode, CSSHTMLHeaderPreprocessor]
