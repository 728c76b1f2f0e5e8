"""Trusted judgement, on evidence alone: the one table of graded cells (``tasks``), the rules,
the expected network and compile settings, and the held-out threshold. Nothing here runs or
reads student code."""
