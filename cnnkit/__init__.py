"""Helpers for the "Compile and Train a CNN" nbgrader course kit.

The package keeps what notebooks must not show: data loading, the training budget,
and the logic of the hidden tests (nbgrader prints hidden test code in feedback, so
the notebooks only call into :mod:`cnnkit.checks`).
"""

__version__ = "0.1.0"
