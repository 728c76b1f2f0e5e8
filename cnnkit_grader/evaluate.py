"""Sandbox side: load checked ``.keras`` files safely and measure them.

Run by ``score`` as ``python -m cnnkit_grader.evaluate FOLDER`` inside the sandbox, with no
network, a memory and time limit, and read-only access to FOLDER only. FOLDER holds the
model files, ``request.json`` and ``inputs.npz``: the validation split with its labels and
the held-out images *without* their labels, which never leave the grader. Prints one JSON
object: per model, its parameter count, shapes, optimizer steps, a digest of its weights, its
loss on the validation split, and, when asked, its predicted class for each held-out image.
"""

import contextlib
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path


def measure(model, arrays, predict):
    import numpy as np

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    result = {"params": int(model.count_params()),
              "input_shape": list(model.input_shape), "output_shape": list(model.output_shape),
              "weights": digest.hexdigest()}
    optimizer = getattr(model, "optimizer", None)
    result["steps"] = int(optimizer.iterations.numpy()) if optimizer is not None else 0
    if getattr(model, "loss", None) is not None:
        try:
            loss = model.evaluate(arrays["val_images"], arrays["val_labels"], verbose=0, return_dict=True)["loss"]
            result["val_loss"] = float(loss)
        except Exception as err:  # noqa: BLE001 - a loss that cannot take these labels
            result["val_loss_error"] = f"{type(err).__name__}: {str(err)[:300]}"
    if predict:
        scores = model.predict(arrays["heldout_images"].astype("float32") / 255.0, batch_size=500, verbose=0)
        result["predictions"] = np.argmax(scores, axis=-1).astype(int).tolist()
    return result


def main(folder):
    folder = Path(folder)
    request = json.loads((folder / "request.json").read_text())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import keras
        import numpy as np

        keras.utils.set_random_seed(0)
        arrays = dict(np.load(folder / "inputs.npz"))
        results = {}
        for name in request["models"]:
            try:
                model = keras.saving.load_model(folder / f"{name}.keras", safe_mode=True)
                results[name] = measure(model, arrays, predict=name in request.get("predict", ()))
            except Exception as err:  # noqa: BLE001 - report, per model, why it did not load
                results[name] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
