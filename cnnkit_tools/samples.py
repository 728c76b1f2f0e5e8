"""The demo's sample submissions, committed in submitted/: the reference, a partly wrong one, the untouched release."""

from . import submissions
from .lab.mutations import PARTLY_WRONG


def samples(root):
    """The demo's sample submissions, by student id."""
    source, release = submissions.source_and_release(root)
    reference = submissions.reference(source, release)
    return {"reference": reference,
            "partly_wrong": submissions.apply(reference, PARTLY_WRONG),
            "untouched": submissions.read(release)}


def write_samples(course_dir, root=None):
    """Write the sample submissions into course_dir/submitted/; return their paths."""
    return {student: submissions.write(nb, course_dir, student)
            for student, nb in samples(root or course_dir).items()}
