"""The trust boundary: everything that touches the student's code or files. The sandbox and its
slots, the kernel, the probe and the measurement processes (which run ``inside``), and the
checks on what crosses back (files, outputs, model files, the submission's intake)."""
