"""The lesson's network, and a comparison of any model against it.

Everything here reads Keras's serialized configs (``model.get_config()`` or the
``config.json`` inside a ``.keras`` file) rather than live layer objects, so the same
checks can run on a model in memory or on a saved file without executing student code.
"""

from dataclasses import dataclass

PARAM_COUNT = 87_060  # the lesson's model, with or without its parameter-free Dropout

# Layers that only reshape or re-activate; folded into the layer before them.
_ACTIVATION_LAYERS = {"Activation", "ReLU", "Softmax"}
_WRAPPERS = {"Functional", "Sequential", "Model"}


@dataclass(frozen=True)
class Layer:
    """One layer, reduced to what the lesson specifies."""
    kind: str
    units: int = None           # Conv2D filters or Dense units
    kernel: tuple = None        # Conv2D kernel_size or MaxPooling2D pool_size
    activation: str = None      # "relu", "linear", "softmax", ...
    padding: str = None
    rate: float = None          # Dropout

    def describe(self):
        if self.kind == "Conv2D":
            return f"Conv2D({self.units}, {self.kernel}, activation='{self.activation}')"
        if self.kind == "MaxPooling2D":
            return f"MaxPooling2D({self.kernel})"
        if self.kind == "Dense":
            return f"Dense({self.units}, activation='{self.activation}')"
        if self.kind == "Dropout":
            return f"Dropout({self.rate})"
        return f"{self.kind}()"


EXPECTED = (
    Layer("Conv2D", 50, (3, 3), "relu", "valid"),
    Layer("MaxPooling2D", kernel=(2, 2)),
    Layer("Conv2D", 50, (3, 3), "relu", "valid"),
    Layer("MaxPooling2D", kernel=(2, 2)),
    Layer("Conv2D", 50, (3, 3), "relu", "valid"),
    Layer("Flatten"),
    Layer("Dense", 50, activation="relu"),
    Layer("Dense", 10, activation="linear"),  # or "softmax": see output_is_softmax
)


def _activation_name(value):
    if value is None:
        return "linear"
    if isinstance(value, dict):  # a serialized activation object
        value = value.get("config", {}).get("name") or value.get("class_name", "")
    return str(value).lower()


def _layer(class_name, config):
    kind = class_name
    if kind == "Conv2D":
        return Layer(kind, config.get("filters"), tuple(config.get("kernel_size", ())),
                     _activation_name(config.get("activation")), config.get("padding"))
    if kind == "MaxPooling2D":
        return Layer(kind, kernel=tuple(config.get("pool_size", ())))
    if kind == "Dense":
        return Layer(kind, config.get("units"), activation=_activation_name(config.get("activation")))
    if kind == "Dropout":
        return Layer(kind, rate=float(config.get("rate")))
    if kind == "Activation":
        return Layer(kind, activation=_activation_name(config.get("activation")))
    if kind == "ReLU":
        return Layer(kind, activation="relu")
    if kind == "Softmax":
        return Layer(kind, activation="softmax")
    return Layer(kind)


def _walk(entry):
    """Yield (class_name, config) for every leaf layer, entering nested models."""
    class_name, config = entry.get("class_name"), entry.get("config") or {}
    if class_name in _WRAPPERS or "layers" in config:
        for child in config.get("layers", []):
            yield from _walk(child)
    elif class_name != "InputLayer":
        yield class_name, config


def layers_of(model_config):
    """The model's layers as :class:`Layer`, with separate activation layers folded in.

    ``model_config`` is ``{"class_name": ..., "config": ...}``, as in a ``.keras`` file.
    """
    layers = []
    for class_name, config in _walk(model_config):
        layer = _layer(class_name, config)
        previous = layers[-1] if layers else None
        if (layer.kind in _ACTIVATION_LAYERS and previous is not None
                and previous.kind in ("Conv2D", "Dense") and previous.activation == "linear"):
            layers[-1] = Layer(previous.kind, previous.units, previous.kernel,
                               layer.activation, previous.padding)
        else:
            layers.append(layer)
    return layers


def model_config(model):
    """``{"class_name", "config"}`` for a live Keras model, the shape ``config.json`` has."""
    return {"class_name": type(model).__name__, "config": model.get_config()}


def output_is_softmax(layers):
    return bool(layers) and layers[-1].activation == "softmax"


def without_dropout(layers):
    return [layer for layer in layers if layer.kind != "Dropout"]


def structure_problems(layers):
    """What differs from the lesson's network, as sentences; empty when it matches.

    Dropout layers are ignored here: they are checked on their own.
    """
    layers = without_dropout(layers)
    problems = []
    for position, (want, got) in enumerate(zip(EXPECTED, layers), start=1):
        if position == len(EXPECTED) and got.kind == "Dense" and got.units == 10 \
                and got.activation in ("linear", "softmax"):
            continue  # logits or probabilities: both are right if the loss agrees
        if want != got:
            problems.append(f"layer {position} should be {want.describe()}, not {got.describe()}")
    if len(layers) != len(EXPECTED):
        problems.append(f"the network should have {len(EXPECTED)} layers after the input "
                        f"(Dropout aside), not {len(layers)}")
    return problems
