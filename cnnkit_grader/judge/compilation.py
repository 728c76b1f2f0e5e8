"""What a model was compiled with, read from Keras's serialized compile config.

``model.get_compile_config()`` and the ``compile_config`` of a ``.keras`` file have the same
shape, so these functions serve both a live model and a saved one.
"""

_LOSS_ALIASES = {
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "binary_crossentropy": "BinaryCrossentropy",
    "mse": "MeanSquaredError", "mean_squared_error": "MeanSquaredError",
    "mae": "MeanAbsoluteError", "mean_absolute_error": "MeanAbsoluteError",
}
# Metric spellings that Keras turns into sparse categorical accuracy for integer labels.
_ACCURACY_NAMES = {"accuracy", "acc", "sparse_categorical_accuracy"}
_ACCURACY_CLASSES = {"SparseCategoricalAccuracy"}


def loss_of(compile_config):
    """``(loss class name, from_logits)``, or ``(None, None)`` when no loss was set.

    A string or a bare loss function uses Keras's default ``from_logits=False``.
    """
    loss = (compile_config or {}).get("loss")
    if loss is None:
        return None, None
    if isinstance(loss, str):
        return _LOSS_ALIASES.get(loss, loss), False
    if isinstance(loss, dict):
        if loss.get("class_name") == "function":  # keras.losses.some_function
            name = loss.get("config")
            return _LOSS_ALIASES.get(name, name), False
        config = loss.get("config") or {}
        if loss.get("class_name") == "LossFunctionWrapper":
            name = config.get("fn", {})
            name = name.get("config") if isinstance(name, dict) else name
            return _LOSS_ALIASES.get(name, name), bool(config.get("from_logits", False))
        return loss.get("class_name"), bool(config.get("from_logits", False))
    return type(loss).__name__, None  # several losses (a list or dict): not this lesson


def optimizer_of(compile_config):
    """The optimizer's class name, e.g. ``"Adam"``."""
    optimizer = (compile_config or {}).get("optimizer")
    if isinstance(optimizer, str):
        return {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}.get(optimizer.lower(), optimizer)
    if isinstance(optimizer, dict):
        return optimizer.get("class_name")
    return None


def has_accuracy(compile_config):
    """True when the metrics include an accuracy that suits integer class labels."""
    metrics = (compile_config or {}).get("metrics") or []
    if isinstance(metrics, (str, dict)):
        metrics = [metrics]
    for metric in metrics:
        if isinstance(metric, str) and metric in _ACCURACY_NAMES:
            return True
        if isinstance(metric, dict) and metric.get("class_name") in _ACCURACY_CLASSES:
            return True
    return False
