"""nbgrader settings for the "Compile and Train a CNN" course.

Run every nbgrader command from this folder. Settings a hub admin may need to change come
from environment variables, so this file stays the same on every machine.
"""

import os
import sys
from pathlib import Path

from cnnkit import settings  # every setting, one table: docs/settings.md

c = get_config()  # noqa: F821 - nbgrader defines get_config when it loads this file
HERE = Path(__file__).resolve().parent
# The grader (cnnkit_grader/: rules, no solutions) comes from this course folder first, so the
# course's copy, not an older installed one, grades it.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

c.CourseDirectory.course_id = os.environ.get("NBGRADER_COURSE_ID") or settings.default("NBGRADER_COURSE_ID")
c.CourseDirectory.root = str(HERE)

# The gradebook: SQLite beside this file by default. For PostgreSQL, set e.g.
# NBGRADER_DB_URL=postgresql://nbgrader@127.0.0.1/cnn_course
c.CourseDirectory.db_url = settings.gradebook_url(HERE)

# The exchange is the folder through which `nbgrader release_assignment`, `fetch_assignment`,
# `submit` and `collect` pass notebooks on a shared hub. It must exist and be world-writable
# (chmod 1777) on that machine; see docs/hub.md. Tests point it at a temporary folder. With
# ngshare (below) there is no such folder.
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT", "/srv/nbgrader/exchange")

# nbgrader's default of 30 s per cell would kill training. The largest training cell takes
# about 40 s under the grading budget and about a minute under the student budget.
c.Execute.timeout = int(os.environ.get("CNNKIT_CELL_TIMEOUT") or settings.default("CNNKIT_CELL_TIMEOUT"))
c.Execute.interrupt_on_timeout = True

# Keep a submission that prints in a loop from bloating the autograded notebook and feedback.
c.LimitOutput.max_lines = 300
c.LimitOutput.max_traceback = 60

# A student who deletes a test cell gets it back (and its points at stake) instead of losing it.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Models and caches that a run of the notebook leaves behind are not part of an assignment.
c.CourseDirectory.ignore = list(settings.COPY_IGNORE)

# ---- Grading that student code cannot fool (cnnkit_grader/; docs/grading.md).
# Untrusted code (the student's notebook) runs only in the sandbox; trusted code judges every
# graded cell from evidence it measures itself. Kernels that `nbgrader validate` starts here
# (for the source's hidden tests) must import the grader too.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))

import nbgrader.apps.api  # noqa: E402
import nbgrader.apps.autogradeapp  # noqa: E402
import nbgrader.converters  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,  # noqa: E402
                                    DeduplicateIds, GetGrades, IgnorePattern, LimitOutput,
                                    OverwriteKernelspec, SaveAutoGrades)

from cnnkit_grader.plugins import exchange  # noqa: E402
from cnnkit_grader.plugins.execute import GuardedExecute  # noqa: E402
from cnnkit_grader.plugins.feedback import HideTestCode  # noqa: E402
from cnnkit_grader.boundary.intake import DropEmptyMetadata, RestoreCells, SafeAutograde, recover_renamed  # noqa: E402
from cnnkit_grader.plugins.sanitize import SanitizeOutputs  # noqa: E402
from cnnkit_grader.plugins.score import FinishRecord, ScoreOutside  # noqa: E402

# nbgrader 0.9.6 has no setting for its converter class: SafeAutograde refuses links in a
# submission before nbgrader's own copy would follow them (cnnkit_grader/boundary/intake.py). It replaces
# Autograde where `nbgrader autograde` and the formgrader's API look it up.
for module in (nbgrader.apps.autogradeapp, nbgrader.apps.api, nbgrader.converters):
    module.Autograde = SafeAutograde
# The exchange: nbgrader's folder (Exchange.root above), or ngshare, the JupyterHub service that
# Kubernetes hubs use, when CNNKIT_NGSHARE_URL names it (docs/hub.md). Either way the kit's
# collect takes only plain files within nbgrader's size limits (cnnkit_grader/plugins/exchange.py).
exchange.configure(c)

c.Autograde.exporter_class = "cnnkit_grader.boundary.intake.TolerantExporter"
c.Autograde.pre_convert_hook = recover_renamed
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, DropEmptyMetadata, OverwriteKernelspec, RestoreCells, CheckCellMetadata]
# SanitizeOutputs comes after ScoreOutside: the grader's notes quote names the student chose.
c.Autograde.autograde_preprocessors = [
    GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, ScoreOutside, SanitizeOutputs,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata, FinishRecord]
c.GenerateFeedback.preprocessors = [GetGrades, HideTestCode, SanitizeOutputs, CSSHTMLHeaderPreprocessor]
