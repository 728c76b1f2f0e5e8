"""The training a grading needs, done bare: the yardstick ``./kit bench`` divides grading by.

``bare(budget, env)`` runs, in a fresh process with ``env``, the same training work the solved
notebook does under ``budget``, on the lesson's own network and the same data: the baseline
(``baseline_n_train`` x ``baseline_epochs``), the model with Dropout (``n_train`` x ``epochs``,
Part G) and one candidate per Dropout rate (``tune_n_train`` x ``tune_epochs``, Part H), each
validated on ``n_val`` images as the notebook's ``train()`` does. It times building, compiling,
fitting and evaluating, but not importing TensorFlow or reading the data: what is left of a
grading beyond this is the grader's own cost.

``sgemm_gflops()`` measures what numpy's float32 matrix product reaches on this machine, the
ceiling against which images/s is read (a training step is about three forward passes).
"""

import json
import os
import re
import subprocess
import sys
import time

from . import course

WORK = r"""
import json, sys, time
import keras
from cnnkit import budget as budgets, data
from cnnkit_grader.inside import lesson

b = budgets.BUDGETS[sys.argv[1]]
(x, y), val = data.load_training_split(b.n_train, b.n_val, seed=b.seed)


def forward_flops(model):
    # Multiply-adds of the convolutions and dense layers, two FLOPs each; the rest is small.
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2 * h * w * c * kh * kw * layer.input.shape[-1]
        elif kind == "Dense":
            total += 2 * layer.input.shape[-1] * layer.units
    return total


def fit(model, n, epochs, verbose=0):
    model.fit(x[:n], y[:n], epochs=epochs, batch_size=b.batch_size, validation_data=val, verbose=verbose)


def compiled(rate=None):
    model = lesson.build(rate)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


keras.utils.set_random_seed(b.seed)
started = time.perf_counter()
fit(compiled(), b.baseline_n_train, b.baseline_epochs)
dropout_started = time.perf_counter()
fit(compiled(0.2), b.n_train, b.epochs, verbose=2)  # Keras's own ms/step, as grading prints it
dropout_seconds = time.perf_counter() - dropout_started
for rate in b.dropout_rates:
    candidate = compiled(rate)
    fit(candidate, b.tune_n_train, b.tune_epochs)
    candidate.evaluate(*val, verbose=0)
seconds = time.perf_counter() - started
images = b.baseline_n_train * b.baseline_epochs + b.n_train * b.epochs + len(b.dropout_rates) * b.tune_n_train * b.tune_epochs
print(json.dumps({"seconds": seconds, "images": images, "dropout_seconds": dropout_seconds,
                  "dropout_images": b.n_train * b.epochs, "train_flops_per_image": 3 * forward_flops(lesson.build(0.2))}))
"""

STEP = re.compile(r"(\d+)/\d+ - \S+ - (\d+)(ms|s)/step")


def fit_seconds(text):
    """Seconds of training that Keras's verbose=2 lines report (steps x time per step)."""
    return sum(int(steps) * int(amount) / (1000 if unit == "ms" else 1) for steps, amount, unit in STEP.findall(text))


# TensorFlow's own knobs that the kit's environment may set; "Keras's defaults" has none of them.
TUNING_VARS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "TF_XLA_FLAGS",
               "TF_ENABLE_ONEDNN_OPTS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def default_env():
    """The environment with none of TensorFlow's tuning variables: Keras's and TensorFlow's defaults."""
    env = course.environment(TF_CPP_MIN_LOG_LEVEL="3")
    for name in TUNING_VARS:
        env.pop(name, None)
    return env


def kit_env():
    """The environment the sandbox gives a graded kernel for training: its allocator setting
    (``cnnkit.kernel_env``) and TensorFlow's thread counts (``sandbox.thread_env``)."""
    from cnnkit.kernel_env import KERNEL_ENV
    from cnnkit_grader.boundary import sandbox

    return dict(default_env(), **KERNEL_ENV, **sandbox.thread_env())


def bare(budget, env):
    """Run the budget's training work bare in a fresh process; its figures as a dict."""
    done = subprocess.run([sys.executable, "-c", WORK, budget], capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError("the bare fit failed:\n" + (done.stdout + done.stderr)[-2000:])
    return dict(json.loads(lines[-1]), dropout_keras_seconds=fit_seconds(done.stdout))


def sgemm_gflops(n=2048, repeats=5):
    """Best float32 matrix-product rate numpy reaches here, in GFLOP/s (2 n^3 FLOPs a product)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    a @ b  # warm the library's threads
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * n ** 3 / best / 1e9


def summary_line(r1, r2, r3, peak_gib):
    """The bench's last line, in the form the speed issue fixes."""
    peak = "not measured" if peak_gib is None else f"{peak_gib:.2f}"
    return (f"bench: grading/bare-fit {r1:.2f}, kit-fit/keras-default-fit {r2:.2f}, "
            f"untouched/reference {r3:.2f}, student kernel peak {peak} GiB")


if __name__ == "__main__":  # one bare run, for a quick look: python -m cnnkit_tools.fitbench [budget]
    print(bare(sys.argv[1] if len(sys.argv) > 1 else "smoke", kit_env() if os.environ.get("KIT") else default_env()))
