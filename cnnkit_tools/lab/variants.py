"""Correct submissions in other styles: each must score full marks.

Each is an edit of the reference (see :mod:`cnnkit.submissions`). They probe the hidden
tests for false fails: a test that insists on one spelling of a right answer fails a
student who chose another. The kit's test suite grades those marked ``ci=True``; the
benchmark (``python -m cnnkit_tools.lab.mutation_report``) grades them all.
"""

from ..submissions import Change, Edit

_SEQUENTIAL = '''def build_model(dropout_rate=None):
    layers = [
        keras.Input(shape=(32, 32, 3)),
        keras.layers.Conv2D(50, 3, activation="relu", name="first_conv"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(50, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(50, 3, activation="relu"),
    ]
    if dropout_rate is not None:
        layers.append(keras.layers.Dropout(dropout_rate, name="regulariser"))
    layers += [keras.layers.Flatten(), keras.layers.Dense(50, activation="relu"),
               keras.layers.Dense(10, name="class_scores")]
    return keras.Sequential(layers, name="my_cnn")
'''

# The dropout model made by surgery on a clone of the first model: fresh weights, the same
# layers, and a Dropout spliced in after the last Conv2D.
_CLONED_DROPOUT = '''base = keras.models.clone_model(model)
last_conv = [layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D)][-1]
x = keras.layers.Dropout(0.2)(last_conv.output)
for layer in base.layers[base.layers.index(last_conv) + 1:]:
    x = layer(x)
model_dropout = compile_model(keras.Model(base.inputs, x, name="cifar_model_dropout"))
history_dropout = train(model_dropout, train_images, train_labels, EPOCHS)
'''

_TWO_LINEPLOTS = '''    ax = sns.lineplot(x=frame.index, y=frame[metric], label=metric)
    sns.lineplot(x=frame.index, y=frame["val_" + metric], label="val_" + metric, ax=ax)
    return ax
'''

VARIANTS = (
    Change("sequential_api", "architecture", (
        Edit("build_model", None, _SEQUENTIAL),
    ), note="keras.Sequential with other layer names instead of the functional API", ci=True),
    Change("compile_objects", "compiling", (
        Edit("compile_model", 'optimizer="adam"', "optimizer=keras.optimizers.Adam()"),
        Edit("compile_model", 'metrics=["accuracy"]',
             "metrics=[keras.metrics.SparseCategoricalAccuracy()]"),
    ), note="optimizer, loss and metric as objects (the reference passes the optimizer and "
            "metric as strings)", ci=True),
    Change("softmax_strings", "compiling", (
        Edit("build_model", "outputs = keras.layers.Dense(10)(x)",
             'outputs = keras.layers.Dense(10, activation="softmax")(x)'),
        Edit("compile_model", "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
             'loss="sparse_categorical_crossentropy"'),
    ), note="a softmax output with from_logits=False, and every compile argument as a string "
            "(the reference passes the loss as an object)", ci=True),
    Change("softmax_layer", "compiling", (
        Edit("build_model", "outputs = keras.layers.Dense(10)(x)",
             "outputs = keras.layers.Softmax()(keras.layers.Dense(10)(x))"),
        Edit("compile_model", "SparseCategoricalCrossentropy(from_logits=True)",
             "SparseCategoricalCrossentropy(from_logits=False)"),
    ), note="softmax as a separate layer, and a loss object with from_logits=False", ci=False),
    Change("other_names", "names", (
        Edit("build_model", 'x = keras.layers.Conv2D(50, (3, 3), activation="relu")(inputs)',
             'x = keras.layers.Conv2D(50, (3, 3), activation="relu", name="features")(inputs)'),
        Edit("build_model", "outputs = keras.layers.Dense(10)(x)",
             'outputs = keras.layers.Dense(10, name="logits")(x)'),
        Edit("dropout", "model_dropout = compile_model(build_model(dropout_rate=0.2))\n",
             "net = build_model(dropout_rate=0.2)\nmodel_dropout = compile_model(net)\n"),
        Edit("tune_dropout", "candidate", "trial_net"),
    ), note="other layer names and other variable names inside the answers", ci=True),
    Change("cloned_dropout", "dropout layer", (
        Edit("dropout", "model_dropout = compile_model(build_model(dropout_rate=0.2))\n"
                        "history_dropout = train(model_dropout, train_images, train_labels, EPOCHS)\n",
             _CLONED_DROPOUT),
    ), note="the dropout model built by cloning the first model and splicing in a Dropout "
            "layer (keras.models.clone_model), not with build_model", ci=True),
    Change("pandas_plot", "plotting", (
        Edit("plot_history", 'return sns.lineplot(data=frame[[metric, "val_" + metric]])',
             'return frame[[metric, "val_" + metric]].plot()'),
    ), note="pandas' DataFrame.plot instead of seaborn, drawing the same two columns", ci=False),
    Change("two_lineplots", "plotting", (
        Edit("plot_history", '    return sns.lineplot(data=frame[[metric, "val_" + metric]])\n',
             _TWO_LINEPLOTS),
    ), note="two sns.lineplot(x=..., y=...) calls on one Axes, one per column", ci=True),
)

CI_VARIANTS = tuple(variant for variant in VARIANTS if variant.ci)
