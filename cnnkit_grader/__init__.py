"""The grader: what nbgrader loads to autograde a submission without trusting it.

Four layers, each importing only the ones below it:

- ``plugins``: what nbgrader loads (the execute and score preprocessors, feedback, the
  exchange, ``nbgrader validate``'s self-check);
- ``boundary``: everything that touches the student's code or files (the sandbox, the kernel,
  the probe and measurement processes, the checks on what crosses back);
- ``judge``: the one table of graded cells and the rules, on evidence alone;
- ``inside``: the only grader code that runs in the sandbox, beside the student's.
"""
