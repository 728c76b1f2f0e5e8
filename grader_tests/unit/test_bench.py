"""The benchmark's figures are read and printed as the speed issue fixes them (no training here)."""

import re

import pytest

from cnnkit_tools import bench, fitbench

pytestmark = pytest.mark.fast

LINE = re.compile(r"bench: grading/bare-fit \d+\.\d\d, kit-fit/keras-default-fit \d+\.\d\d, "
                  r"untouched/reference \d+\.\d\d, student kernel peak \d+\.\d\d GiB")


def test_the_last_line_has_exactly_the_agreed_form():
    line = fitbench.summary_line(1.714, 0.98, 0.061, 0.93)
    assert LINE.fullmatch(line), line
    assert line == ("bench: grading/bare-fit 1.71, kit-fit/keras-default-fit 0.98, untouched/reference 0.06, "
                    "student kernel peak 0.93 GiB")


def test_keras_step_lines_are_read_as_seconds_of_training():
    printed = ("Epoch 1/4\n469/469 - 9s - 19ms/step - accuracy: 0.31 - loss: 1.88 - val_loss: 1.6\n"
               "Epoch 2/4\n469/469 - 8s - 17ms/step - accuracy: 0.45 - loss: 1.50\n"
               "16/16 - 2s - 2s/step - loss: 2.3\n")
    assert fitbench.fit_seconds(printed) == pytest.approx(469 * 0.019 + 469 * 0.017 + 16 * 2)


def test_the_defaults_carry_none_of_the_kits_tensorflow_settings(monkeypatch):
    monkeypatch.setenv("CNNKIT_THREADS", "2")
    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_auto_jit=2")
    default, kit = fitbench.default_env(), fitbench.kit_env()
    assert not set(fitbench.TUNING_VARS) & set(default)
    assert kit["TF_NUM_INTRAOP_THREADS"] == "2" and kit["TF_NUM_INTEROP_THREADS"] == "1"
    assert kit["MALLOC_ARENA_MAX"] == "2" and "MALLOC_ARENA_MAX" not in default


def test_grading_against_another_checkout_refuses_a_folder_that_is_not_one(tmp_path, capsys):
    """``./kit bench --against ROOT`` says what ROOT lacks, before it grades anything."""
    with pytest.raises(SystemExit) as stopped:
        bench.main(["--against", str(tmp_path), "--rounds", "1"])
    assert stopped.value.code == 2
    assert f"{tmp_path} is not a checkout of this kit: it has no nbgrader_config.py, cnnkit_grader" in capsys.readouterr().err


def test_grading_against_another_checkout_needs_at_least_one_round(capsys):
    from cnnkit_tools import course

    with pytest.raises(SystemExit):
        bench.main(["--against", str(course.ROOT), "--rounds", "0"])
    assert "--rounds must be at least 1" in capsys.readouterr().err
