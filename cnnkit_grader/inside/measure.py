"""Sandbox side, no student code: load checked ``.keras`` files safely and measure them.

Run by ``score`` as ``python -m cnnkit_grader.inside.measure FOLDER`` in the sandbox, with no
network, a memory and time limit, and read-only access to FOLDER only. FOLDER holds the model
files (already accepted by ``modelfile``'s allowlist), ``request.json`` and ``inputs.npz``:
the validation images with their labels, and the held-out images *without* their labels,
which never leave the trusted side. Prints one JSON object: per model, its parameter count,
shapes, optimizer steps, a digest of its weights, its loss on the asked validation set, and,
when asked, its predicted class for each held-out image.

``selfcheck`` and calibration call ``measure`` and ``predict_classes`` in their own process.
"""

import contextlib
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path


def scaled(images):
    """uint8 images as the notebook scales them (cnnkit.data), bit for bit."""
    return images.astype("float32") / 255.0


def predict_classes(model, images):
    import numpy as np

    scores = model.predict(scaled(images), batch_size=500, verbose=0)
    return np.argmax(scores, axis=-1).astype(int).tolist()


def fresh_val_loss(model, val, seeds=(1, 2, 3)):
    """The validation loss of the same model freshly initialised (mean over seeds): what no training gives."""
    import keras

    losses = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        fresh = keras.models.clone_model(model)
        fresh.compile_from_config(model.get_compile_config())
        losses.append(float(fresh.evaluate(scaled(val[0]), val[1], verbose=0, return_dict=True)["loss"]))
    return sum(losses) / len(losses)


def measure(model, val=None, heldout=None, baseline=False):
    """Figures of one loaded model; ``val`` = (uint8 images, labels); ``heldout`` = uint8 images;
    ``baseline``: also the validation loss of a fresh initialisation, to tell training from none."""
    import numpy as np

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    result = {"params": int(model.count_params()),
              "input_shape": list(model.input_shape), "output_shape": list(model.output_shape),
              "weights": digest.hexdigest()}
    optimizer = getattr(model, "optimizer", None)
    result["steps"] = int(optimizer.iterations.numpy()) if optimizer is not None else 0
    if val is not None and getattr(model, "loss", None) is not None:
        try:
            loss = model.evaluate(scaled(val[0]), val[1], verbose=0, return_dict=True)["loss"]
            result["val_loss"] = float(loss)
            if baseline:
                result["fresh_val_loss"] = fresh_val_loss(model, val)
        except Exception as err:  # noqa: BLE001 - a loss that cannot take these labels
            result["val_loss_error"] = f"{type(err).__name__}: {str(err)[:300]}"
    if heldout is not None:
        result["predictions"] = predict_classes(model, heldout)
    return result


def main(folder, wait=0):
    """Import Keras first; then wait (up to ``wait`` s) for FOLDER/request.json, so the grader can
    start this process while the notebook runs and hand it the models when the notebook is done."""
    import time

    folder = Path(folder)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import keras
        import numpy as np

        deadline = time.monotonic() + float(wait)
        while not (folder / "request.json").exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
        request = json.loads((folder / "request.json").read_text())

        keras.utils.set_random_seed(0)
        arrays = dict(np.load(folder / "inputs.npz"))
        results = {}
        for name, asked in request["models"].items():
            val = (arrays[f"{asked['val']}_images"], arrays[f"{asked['val']}_labels"]) if asked.get("val") else None
            try:
                model = keras.saving.load_model(folder / f"{name}.keras", safe_mode=True)
                results[name] = measure(model, val, arrays["heldout_images"] if asked.get("predict") else None,
                                        baseline=bool(asked.get("baseline")))
            except Exception as err:  # noqa: BLE001 - report, per model, why it did not load
                results[name] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    print(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:3])
