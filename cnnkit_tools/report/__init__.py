"""The instructor report for an autograded assignment (``./kit report ASSIGNMENT``).

``build(course_dir, assignment)`` writes ``reports/ASSIGNMENT/index.html`` and its data.
Modules: ``gradebook`` and ``notebooks`` read; ``stats``, ``failures`` and ``heldout``
compute; ``collect`` assembles the tables; ``template`` is the report notebook; ``build``
executes and exports it. docs/report.md says what the report shows and how it is computed.
"""

from .build import build, main

__all__ = ["build", "main"]
