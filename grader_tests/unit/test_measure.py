"""The grader measures a model's loss and classes as ``evaluate`` and ``predict`` would.

``inside/measure.py`` calls models eagerly a chunk at a time instead of through Keras's
traced loops (a second saved per model); these check that the figures are the same, across a
chunk boundary, for the lesson's model untrained (no training: seconds).
"""

import numpy as np
import pytest

from cnnkit_grader.inside import measure


@pytest.fixture(scope="module")
def model_and_data():
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(50, 3, activation="relu")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(keras.layers.Dropout(0.3)(h))
    model = keras.Model(inputs, keras.layers.Dense(10)(h))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (measure.CHUNK + 123, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, (len(images), 1)).astype(np.uint8)
    return model, images, labels


def test_loss_is_what_evaluate_reports(model_and_data):
    model, images, labels = model_and_data
    expected = model.evaluate(measure.scaled(images), labels, batch_size=32, verbose=0, return_dict=True)["loss"]
    assert measure.val_loss(model, images, labels) == pytest.approx(expected, rel=1e-5)


def test_classes_are_what_predict_gives(model_and_data):
    model, images, _ = model_and_data
    scores = model.predict(measure.scaled(images), batch_size=32, verbose=0)
    assert measure.predict_classes(model, images) == np.argmax(scores, axis=-1).tolist()


def test_a_loss_that_cannot_take_the_labels_is_reported_not_raised(model_and_data):
    import keras

    model, images, labels = model_and_data
    wrong = keras.models.clone_model(model)
    wrong.compile("adam", "categorical_crossentropy")
    found = measure.measure(wrong, val=(images, labels))
    assert "val_loss" not in found and found["val_loss_error"].startswith(("ValueError", "InvalidArgument"))


def test_the_graders_own_network_is_the_lessons():
    from cnnkit_grader.judge import architecture
    from cnnkit_grader.inside import lesson

    model = lesson.compiled()
    assert architecture.structure_problems(architecture.layers_of(architecture.model_config(model))) == []
    assert model.count_params() == architecture.PARAM_COUNT
    with_dropout = architecture.layers_of(architecture.model_config(lesson.build(dropout_rate=0.2)))
    assert [layer.rate for layer in with_dropout if layer.kind == "Dropout"] == [0.2]


def test_no_training_is_told_by_the_lessons_network_not_by_the_students_initialisers(model_and_data):
    """An untrained model whose own initialisers make any fresh copy of it terrible, its output
    layer zeroed by hand (no training): its loss is ln 10, and that is not learning."""
    import math

    import keras

    from cnnkit_grader.judge import rules
    from cnnkit_grader.inside import lesson

    _, images, labels = model_and_data
    wild = keras.initializers.RandomNormal(stddev=30.0)
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for _ in range(2):
        x = keras.layers.MaxPooling2D()(keras.layers.Conv2D(50, 3, activation="relu", kernel_initializer=wild)(x))
    x = keras.layers.Flatten()(keras.layers.Conv2D(50, 3, activation="relu", kernel_initializer=wild)(x))
    x = keras.layers.Dense(50, activation="relu", kernel_initializer=wild)(x)
    model = keras.Model(inputs, keras.layers.Dense(10, kernel_initializer=wild)(x))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.layers[-1].set_weights([np.zeros((50, 10)), np.zeros(10)])
    found = measure.measure(model, val=(images, labels), baseline=True)
    assert found["val_loss"] == pytest.approx(math.log(10), rel=1e-4)
    assert found["fresh_val_loss"] < 2.5   # the lesson's network under the grader's seeds
    assert not rules.learned(found)
    assert lesson.output_activation(model) == "linear"


def test_part_e_start_is_the_network_the_probe_gave_rebuilt_bit_for_bit(model_and_data, tmp_path):
    """An untrained copy of the probe's network, saved and reloaded as grading does, measures
    exactly its start loss, so "not fitted" needs no margin for a rebuild that drifts; another
    model on the same images does not."""
    import keras

    from cnnkit_grader.judge import rules
    from cnnkit_grader.inside import lesson

    _, images, labels = model_and_data
    images, labels = images[:120], labels[:120]
    given = lesson.compiled(77)
    given.save(tmp_path / "trained.keras")
    keras.utils.set_random_seed(5)   # what the student's code may do between build and hand-over
    given = keras.saving.load_model(tmp_path / "trained.keras", safe_mode=True)
    found = measure.measure(given, start=(77, (images, labels)))
    assert found["train_loss"] == found["start_loss"]
    assert not rules.fitted(found)
    other = measure.measure(lesson.compiled(78), start=(77, (images, labels)))
    assert other["train_loss"] != other["start_loss"]


def test_models_compiled_alike_share_one_fresh_baseline_and_another_loss_does_not(monkeypatch):
    """Keras names each optimizer apart (adam, adam_1, ...): Part H's five candidates, compiled
    alike, still measure the fresh network once, and a different loss is measured on its own."""
    import keras
    import numpy as np

    from cnnkit_grader.inside import lesson

    built = []
    monkeypatch.setattr(lesson, "fresh_val_loss", lambda model, val, loss_of: built.append(model) or 2.3)
    monkeypatch.setattr(measure, "_BASELINES", {})
    val = (np.zeros((4, 32, 32, 3), np.uint8), np.zeros((4, 1), np.uint8))
    first, second = lesson.compiled(), lesson.compiled()
    assert first.optimizer.name != second.optimizer.name
    assert measure.fresh_val_loss(first, val) == measure.fresh_val_loss(second, val) == 2.3
    assert len(built) == 1
    other = lesson.build()
    other.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False))
    measure.fresh_val_loss(other, val)
    assert len(built) == 2


def test_what_is_measured_ahead_is_what_a_model_would_get_and_is_not_measured_again(model_and_data, tmp_path,
                                                                                    monkeypatch):
    """Part E's start figures and the fresh baseline for Part C's compile settings, measured before
    any model arrives (``ahead``, while the notebook runs), are exactly what a model compiled as
    Part C asks, saved and reloaded as grading does, then gets; and nothing is measured twice."""
    import keras

    from cnnkit_grader.inside import lesson

    _, images, labels = model_and_data
    arrays = {"start_images": images[:32], "start_labels": labels[:32],
              "grading_images": images, "grading_labels": labels}
    lesson.compiled(9).save(tmp_path / "dropout.keras")
    model = keras.saving.load_model(tmp_path / "dropout.keras", safe_mode=True)

    def measured():
        return measure.measure(model, val=(arrays["grading_images"], arrays["grading_labels"]), baseline=True,
                               start=(77, (arrays["start_images"], arrays["start_labels"]), (1, 32)))

    monkeypatch.setattr(measure, "_BASELINES", {})
    monkeypatch.setattr(measure, "_STARTS", {})
    expected = measured()
    monkeypatch.setattr(measure, "_BASELINES", {})
    monkeypatch.setattr(measure, "_STARTS", {})
    measure.ahead(arrays, 77, [1, 32])
    again = []
    for name in ("fresh_val_loss", "compiled"):
        monkeypatch.setattr(lesson, name, lambda *args, name=name, real=getattr(lesson, name): again.append(name) or real(*args))
    assert measured() == expected
    assert again == [], f"measured again after ahead: {again}"
    assert {"start_loss", "lesson_train_loss", "fresh_val_loss"} <= set(expected)
