"""Regenerate everything made from source/: release/ and the sample submissions.

    python -m cnnkit_tools.release

Both are committed; grader_tests/pipeline/test_release.py fails when either is out of date.
"""

from . import course, samples


def main(root=course.ROOT):
    course.generate_release(root)
    for student, path in samples.write_samples(root).items():
        print(f"wrote {path.relative_to(root)}")


if __name__ == "__main__":
    main()
