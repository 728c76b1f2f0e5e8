"""The kit end to end: release, grade the sample submissions, feedback, grades.csv, report.

    python -m cnnkit_tools.demo [COURSE_DIR]

COURSE_DIR defaults to this repository. Uses nbgrader's own commands throughout.
"""

import sys
import time
from pathlib import Path

import pandas as pd

from . import course, report, samples, submissions


def step(message):
    print(f"==> {message}", flush=True)


def main(course_dir=course.ROOT):
    course_dir = Path(course_dir)
    started = time.monotonic()
    step("regenerating release/ from source/ (nbgrader generate_assignment)")
    course.generate_release(course_dir)
    step("writing the sample submissions into submitted/")
    students = list(samples.write_samples(course_dir))
    for number, student in enumerate(students, start=1):
        step(f"[{number}/{len(students)}] autograding {student} (nbgrader autograde)")
        t0 = time.monotonic()
        course.autograde(course_dir, student)
        got = course.scores(course_dir, student)
        print(f"    {sum(s for s, _ in got.values()):g} of {sum(m for _, m in got.values()):g} "
              f"autograded points in {time.monotonic() - t0:.0f} s", flush=True)
    step("generating feedback (nbgrader generate_feedback)")
    course.generate_feedback(course_dir)
    step("exporting grades (nbgrader export)")
    grades = pd.read_csv(course.export(course_dir))
    table = grades[["student_id", "score", "max_score"]].set_index("student_id")
    print()
    print("Autograded scores (written answers await manual grading in formgrader):")
    print(table.to_string())
    step("writing the instructor report (./kit report)")
    page = report.build(course_dir, submissions.ASSIGNMENT)
    print()
    print(f"grades: {course_dir / 'grades.csv'}")
    print(f"feedback: {course_dir / 'feedback'}")
    print(f"report: {page}")
    print(f"done in {time.monotonic() - started:.0f} s")
    return table


if __name__ == "__main__":
    main(*sys.argv[1:])
