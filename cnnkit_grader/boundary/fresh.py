"""Fresh inputs for the student's functions: drawn per submission, never seen by the student.

The probe (``inside/probe.py``) calls the student's functions with these inputs in a clean
process, and the rules compare what comes back with what these inputs must give. A number
typed into the notebook cannot match them. The seed comes from a secret kept in the course
folder (never given to a sandbox) and the student's id, so regrading gives the same inputs
and no student can compute theirs.
"""

import hashlib
import os
import secrets
from pathlib import Path

import numpy as np

from cnnkit import data

SECRET_FILE = ".cnnkit-secret"          # in the course folder; gitignored; 0600
SELF_CHECK_SEED = 2024                  # `nbgrader validate` on the source: fixed, public inputs
TRAINING_POOL = 50_000                  # CIFAR-10's training images


def course_secret(course_root):
    """The course's secret, made once (0600) on first use."""
    path = Path(course_root) / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def seed_for(course_root, assignment, student):
    digest = hashlib.sha256(f"{course_secret(course_root)}/{assignment}/{student}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def draw(seed):
    """Plain JSON: the inputs for Parts B, D, E and F, and the expected values only Part B needs."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 9))
    y_true = rng.uniform(-5, 5, n).round(3)
    y_pred = (y_true + rng.normal(0, 2, n)).round(3)
    batch = int(rng.choice([16, 24, 40, 48, 64]))
    n_train = int(rng.integers(1_000, 20_000))
    if n_train % batch == 0:
        n_train += 1  # a last, smaller batch: ceil and floor must differ
    train_n, val_n = int(rng.integers(96, 161)), 64
    picks = rng.choice(TRAINING_POOL, train_n + val_n, replace=False)
    epochs = int(rng.integers(3, 7))
    history = {
        "loss": np.sort(rng.uniform(0.5, 2.5, epochs))[::-1].round(4).tolist(),
        "accuracy": np.sort(rng.uniform(0.1, 0.8, epochs)).round(4).tolist(),
        "val_loss": rng.uniform(0.8, 2.5, epochs).round(4).tolist(),
        "val_accuracy": rng.uniform(0.1, 0.7, epochs).round(4).tolist(),
    }
    return {
        "seed": int(seed) % 2**31,
        "regression": {"y_true": y_true.tolist(), "y_pred": y_pred.tolist()},
        "updates": {"n_train": n_train, "batch_size": batch},
        "training": {"train_indices": picks[:train_n].tolist(), "val_indices": picks[train_n:].tolist(),
                     "epochs": int(rng.integers(2, 4)), "batch_size": int(rng.choice([16, 24, 32]))},
        "history": history,
    }


def training_arrays(fresh):
    """uint8 images and labels for Part E's call, from CIFAR-10's training images.

    Only the images drawn are read (0.3 s here), not the whole 150 MB pool (1.3 s)."""
    train, val = (np.asarray(fresh["training"][k], dtype=int) for k in ("train_indices", "val_indices"))
    images, labels = data.load_training_at(np.concatenate([train, val]))
    return {"train_images": images[:len(train)], "train_labels": labels[:len(train)],
            "val_images": images[len(train):], "val_labels": labels[len(train):]}
