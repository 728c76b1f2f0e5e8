"""The lesson's own network, built by the grader: what Part E trains and what "learned" is measured against.

Two verdicts must not depend on anything the student chose:

- Part E judges the student's ``train`` function, not their network or compile settings, so the
  probe calls ``train`` on this network, compiled as Part C asks (one mistake, one charge);
- "the model learned" (the held-out test's error carried forward, Part H's candidates) compares
  a model's validation loss with a fresh initialisation of *this* network under the grader's own
  seed, never with a copy built from the student's config, whose initialisers the student picks.

``architecture.EXPECTED`` describes the same network as configs; a unit test keeps them equal.
"""

GRADER_SEED = 20_231     # the grader's initialisation; not the notebook's SEED
BASELINE_SEEDS = (GRADER_SEED, GRADER_SEED + 1, GRADER_SEED + 2)


def build(dropout_rate=None, output="linear"):
    """The network of Part A's table (with Part G's Dropout when a rate is given); ``output`` is the
    last layer's activation: "linear" (logits) or "softmax" (probabilities), both right."""
    import keras

    inputs = keras.Input(shape=(32, 32, 3))
    x = keras.layers.Conv2D(50, (3, 3), activation="relu")(inputs)
    x = keras.layers.MaxPooling2D((2, 2))(x)
    x = keras.layers.Conv2D(50, (3, 3), activation="relu")(x)
    x = keras.layers.MaxPooling2D((2, 2))(x)
    x = keras.layers.Conv2D(50, (3, 3), activation="relu")(x)
    if dropout_rate is not None:
        x = keras.layers.Dropout(dropout_rate)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(50, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation=None if output == "linear" else output)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="lesson")


def compiled(seed=GRADER_SEED):
    """The lesson's network, freshly initialised from ``seed`` and compiled as Part C asks."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def output_activation(model):
    """"softmax" when the model's last layer gives probabilities, else "linear" (this runs in the
    sandbox, where only ``inside`` is importable, so it reads the live layer, not a config)."""
    layer = model.layers[-1] if getattr(model, "layers", None) else None
    if type(layer).__name__ == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    return "softmax" if getattr(activation, "__name__", "") == "softmax" else "linear"


def fresh_val_loss(model, val, loss_of):
    """What no training gives: the validation loss of the lesson's network, freshly initialised
    with the grader's seeds and compiled with ``model``'s own compile settings (so a loss Part C
    charged is compared with itself), averaged over seeds. ``loss_of(model, images, labels)``
    computes a loss as the measurement does."""
    import keras

    losses = []
    for seed in BASELINE_SEEDS:
        keras.utils.set_random_seed(seed)
        fresh = build(output=output_activation(model))
        fresh.compile_from_config(model.get_compile_config())
        losses.append(loss_of(fresh, *val))
    return sum(losses) / len(losses)
