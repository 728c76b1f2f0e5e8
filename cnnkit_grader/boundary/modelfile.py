"""Read a ``.keras`` file as plain data, and refuse anything but built-in Keras parts.

A ``.keras`` file is a zip holding ``config.json``, ``metadata.json`` and the weights. Its
config names every class Keras would instantiate while loading. This module reads that JSON
without importing Keras, and accepts only built-in layers, optimizers, losses, metrics,
initializers and activations: no ``Lambda`` layer, no custom or registered object, no
function from another module. Only a file that passes is ever loaded, and then only in the
sandbox with ``safe_mode=True`` (``cnnkit_grader.inside.measure``).
"""

import json
import zipfile

MAX_FILE = 50 * 2**20      # the lesson's model is about 1 MB on disk
MAX_CONFIG = 2**20
ALLOWED_LAYERS = frozenset({
    "InputLayer", "Conv2D", "MaxPooling2D", "AveragePooling2D", "Dense", "Flatten", "Dropout",
    "SpatialDropout2D", "Activation", "ReLU", "LeakyReLU", "Softmax", "BatchNormalization",
    "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Rescaling", "ZeroPadding2D", "Reshape"})
MODELS = frozenset({"Functional", "Sequential", "Model"})
ALLOWED_MODULES = {
    "keras.layers": ALLOWED_LAYERS, "keras": MODELS | {"DTypePolicy", "FloatDTypePolicy"},
    "keras.src.models.functional": MODELS, "keras.src.models.sequential": MODELS,
    "keras.optimizers": None, "keras.losses": None, "keras.metrics": None,
    "keras.initializers": None, "keras.regularizers": None, "keras.constraints": None,
    "keras.activations": None, "keras.optimizers.schedules": None,
}
NEVER = frozenset({"Lambda", "__lambda__", "function", "TFSMLayer", "TorchModuleWrapper",
                   "JaxLayer", "FlaxLayer"})


class UnsafeModel(ValueError):
    """The file is not a model the grader will load; the message says why."""


def _check(node, where="model"):
    if isinstance(node, list):
        for item in node:
            _check(item, where)
        return
    if not isinstance(node, dict):
        return
    if "class_name" in node:
        name, module = node.get("class_name"), node.get("module")
        registered = node.get("registered_name")
        if name in NEVER:
            raise UnsafeModel(f"{where} contains a {name} object, which can run arbitrary code; "
                              "build the model from built-in keras.layers only.")
        if module is not None or registered is not None:
            allowed = ALLOWED_MODULES.get(module, ())
            if module not in ALLOWED_MODULES or (allowed is not None and name not in allowed):
                raise UnsafeModel(f"{where} contains {module or '?'}.{name}, which is not a built-in "
                                  "Keras part this assignment uses; use built-in keras.layers only.")
            if registered not in (None, name) and not str(registered).startswith("keras"):
                raise UnsafeModel(f"{where} contains the custom object {registered!r}; custom "
                                  "objects cannot be graded. Use built-in Keras classes.")
        where = node.get("config", {}).get("name", where) if isinstance(node.get("config"), dict) else where
    for value in node.values():
        _check(value, where)


def read_config(path):
    """The file's parsed ``config.json``, after the allowlist check; raises UnsafeModel."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise UnsafeModel(f"{path.name} is larger than {MAX_FILE // 2**20} MB; the lesson's "
                              "model is about 1 MB.")
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_CONFIG:
                raise UnsafeModel(f"{path.name}'s config.json is implausibly large.")
            config = json.loads(archive.read(info))
    except RecursionError:
        raise UnsafeModel(f"{path.name}'s config.json is nested too deeply to be a Keras model.") from None
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as err:
        if isinstance(err, UnsafeModel):
            raise
        raise UnsafeModel(f"{path.name} is not a readable Keras 3 .keras file ({type(err).__name__}); "
                          "save it with model.save('name.keras').") from None
    if not isinstance(config, dict) or config.get("class_name") not in MODELS:
        raise UnsafeModel(f"{path.name} does not hold a Keras Sequential or functional model.")
    try:
        _check(config)
    except RecursionError:
        raise UnsafeModel(f"{path.name}'s config.json is nested too deeply to be a Keras model.") from None
    return config
