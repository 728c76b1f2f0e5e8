"""The grader reads a .keras file as JSON and refuses anything but built-in Keras parts."""

import json
import zipfile

import keras
import pytest

from cnnkit_grader.judge import architecture
from cnnkit_grader.boundary import modelfile


def _lesson_model():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(50, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(50, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(50, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(50, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def test_the_lessons_model_is_accepted_and_read_without_loading(tmp_path):
    path = tmp_path / "model.keras"
    _lesson_model().save(path)
    config = modelfile.read_config(path)
    assert architecture.structure_problems(architecture.layers_of(config)) == []
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"


def test_a_lambda_layer_is_refused(tmp_path):
    path = tmp_path / "lambda.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2)]).save(path)
    with pytest.raises(modelfile.UnsafeModel, match="Lambda object, which can run arbitrary code"):
        modelfile.read_config(path)


def test_a_custom_layer_is_refused(tmp_path):
    @keras.saving.register_keras_serializable(package="student")
    class Doubler(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2

    path = tmp_path / "custom.keras"
    keras.Sequential([keras.Input((4,)), Doubler()]).save(path)
    with pytest.raises(modelfile.UnsafeModel, match="not a built-in Keras part|custom object"):
        modelfile.read_config(path)


def _rewrite_config(source, target, change):
    with zipfile.ZipFile(source) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    change(config)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)


def test_a_function_from_another_module_is_refused(tmp_path):
    _lesson_model().save(tmp_path / "ok.keras")

    def poison(config):
        config["config"]["layers"][1]["config"]["activation"] = {
            "module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    _rewrite_config(tmp_path / "ok.keras", tmp_path / "os.keras", poison)
    with pytest.raises(modelfile.UnsafeModel, match="function object"):
        modelfile.read_config(tmp_path / "os.keras")


def test_junk_and_oversized_files_get_a_clear_message(tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(modelfile.UnsafeModel, match="not a readable Keras 3 .keras file"):
        modelfile.read_config(junk)
    big = tmp_path / "big.keras"
    with open(big, "wb") as handle:
        handle.truncate(modelfile.MAX_FILE + 1)
    with pytest.raises(modelfile.UnsafeModel, match="larger than"):
        modelfile.read_config(big)
