"""The validity lab: what shows the grader is right, not what runs a course. Calibration of the
held-out threshold, mutants and variants of the reference (complete answers: never given to
students), the attacks on the grader, and the mutation report."""
