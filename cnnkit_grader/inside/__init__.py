"""Grader code that runs *inside* the sandbox, beside or instead of student code.

Everything here is trusted code placed on the untrusted side: what it reports is read by the
trusted side as untrusted data (type-checked, size-capped, measured again), never believed.

- ``handover``: sent as text to the student's kernel after a graded cell, to save the models
  the notebook trained;
- ``probe``: a clean process that defines the student's functions and calls them with fresh inputs;
- ``lesson``: the lesson's network as the grader builds it, for Part E and for "it learned";
- ``measure``: a process that runs no student code: it loads checked model files with
  ``safe_mode=True`` and measures them.
"""
