"""Grade on submit (issue 15): a service that collects each new submission, grades it with the
kit's pipeline, and releases that student's feedback, with a ledger in the gradebook's database
so that nothing is lost or done twice when the service is killed (docs/onsubmit.md).

- ``ledger``: the ``cnnkit_submission`` table and its atomic transitions;
- ``policy``: attempts per day, cool-down, feedback held until a date;
- ``service``: the loop (``run``), which a JupyterHub-managed service can start later;
- ``python -m cnnkit_tools.onsubmit COURSE_DIR ASSIGNMENT``: the same loop from a shell.

This is the kit's trusted tooling side: nothing in ``cnnkit`` or ``cnnkit_grader`` imports it.
"""
