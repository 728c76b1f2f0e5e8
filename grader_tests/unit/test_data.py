"""The CIFAR-10 loader: the official layout, Keras's shapes, and clear errors on bad files."""

import pickle
import shutil

import numpy as np
import pytest

from cnnkit import data


def test_official_layout_loads_with_kerass_shapes(cifar_dir):
    (x_train, y_train), (x_test, y_test) = data.load_cifar10(cifar_dir)
    assert x_train.shape == (50_000, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (50_000, 1) and x_test.shape == (10_000, 32, 32, 3)
    assert y_test.shape == (10_000, 1)
    assert np.bincount(y_train.ravel()).tolist() == [5_000] * 10
    assert np.bincount(y_test.ravel()).tolist() == [1_000] * 10


def test_environment_variable_and_inner_folder_both_work(cifar_dir, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(cifar_dir / "cifar-10-batches-py"))
    (_, y_train), _ = data.load_cifar10()
    assert len(y_train) == 50_000


def test_split_is_seeded_disjoint_and_never_holds_test_images(cifar_dir):
    (train_x, train_y), (val_x, val_y) = data.load_training_split(300, 100, seed=7, directory=cifar_dir)
    (again_x, _), _ = data.load_training_split(300, 100, seed=7, directory=cifar_dir)
    (other_x, _), _ = data.load_training_split(300, 100, seed=8, directory=cifar_dir)
    assert train_x.shape == (300, 32, 32, 3) and val_y.shape == (100, 1)
    assert train_x.dtype == np.float32 and 0.0 <= train_x.min() and train_x.max() <= 1.0
    np.testing.assert_array_equal(train_x, again_x)
    assert not np.array_equal(train_x, other_x)
    train_idx, val_idx = data.split_indices(300, 100, seed=7)
    assert not set(train_idx) & set(val_idx)
    heldout_x, _ = data.load_heldout(cifar_dir)
    flat = {row.tobytes() for row in heldout_x[:2000]}
    assert not any(row.tobytes() in flat for row in np.concatenate([train_x, val_x]))


def copy_layout(cifar_dir, tmp_path):
    target = tmp_path / "cifar-10-batches-py"
    shutil.copytree(cifar_dir / "cifar-10-batches-py", target)
    return target


def test_missing_directory_names_it(tmp_path):
    with pytest.raises(data.DataError, match=r"not a directory.*cifar-10-batches-py"):
        data.load_cifar10(tmp_path / "nowhere")


def test_missing_batch_names_the_file(cifar_dir, tmp_path):
    (copy_layout(cifar_dir, tmp_path) / "data_batch_4").unlink()
    with pytest.raises(data.DataError, match=r"missing CIFAR-10 file .*data_batch_4"):
        data.load_cifar10(tmp_path)


def test_truncated_batch_names_the_file_and_what_was_expected(cifar_dir, tmp_path):
    batch = copy_layout(cifar_dir, tmp_path) / "test_batch"
    batch.write_bytes(batch.read_bytes()[:1_000_000])
    with pytest.raises(data.DataError, match=r"cannot read CIFAR-10 file .*test_batch.*truncated"):
        data.load_cifar10(tmp_path)


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("touch pwned",))


def test_batch_with_code_in_it_is_refused_without_running_it(cifar_dir, tmp_path, monkeypatch):
    folder = copy_layout(cifar_dir, tmp_path)
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": [0]}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(data.DataError, match=r"data_batch_2"):
        data.load_cifar10(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_wrong_shape_is_reported(cifar_dir, tmp_path):
    folder = copy_layout(cifar_dir, tmp_path)
    (folder / "data_batch_1").write_bytes(pickle.dumps(
        {b"data": np.zeros((10, 3072), np.uint8), b"labels": [0] * 10}, protocol=4))
    with pytest.raises(data.DataError, match=r"unexpected content .*data_batch_1.*10000 images"):
        data.load_cifar10(tmp_path)


def test_without_a_local_copy_it_uses_kerass_loader(monkeypatch):
    import keras

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    fake = ((np.zeros((2, 32, 32, 3), np.uint8), np.zeros((2, 1), np.uint8)),
            (np.zeros((1, 32, 32, 3), np.uint8), np.ones((1, 1), np.uint8)))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: fake)
    assert data.load_cifar10() is fake


def _split_as_before(n_train, n_val, seed, directory):
    """The loader this kit shipped first: all 50,000 images joined, indexed, then scaled."""
    batches = [data._read_batch(data.batches_dir(directory) / name) for name in data.TRAIN_BATCHES]
    x, y = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    train, val = data.split_indices(n_train, n_val, seed)
    return (x[train].astype("float32") / 255.0, y[train]), (x[val].astype("float32") / 255.0, y[val])


@pytest.mark.parametrize("n_train, n_val, seed", [(15_000, 5_000, 42), (300, 100, 7), (1, 49_999, 0)])
def test_split_read_batch_by_batch_is_bit_identical_to_the_whole_set_indexed(cifar_dir, n_train, n_val, seed):
    new = data.load_training_split(n_train, n_val, seed, directory=cifar_dir)
    old = _split_as_before(n_train, n_val, seed, cifar_dir)
    for (new_x, new_y), (old_x, old_y) in zip(new, old):
        for a, b in ((new_x, old_x), (new_y, old_y)):
            assert a.shape == b.shape and a.dtype == b.dtype and a.flags.c_contiguous
            assert a.tobytes() == b.tobytes()


def test_training_pool_filled_batch_by_batch_is_the_files_joined(cifar_dir):
    x, y = data.load_training(cifar_dir)
    batches = [data._read_batch(data.batches_dir(cifar_dir) / name) for name in data.TRAIN_BATCHES]
    np.testing.assert_array_equal(x, np.concatenate([b[0] for b in batches]))
    np.testing.assert_array_equal(y, np.concatenate([b[1] for b in batches]))
    assert x.dtype == y.dtype == np.uint8 and x.flags.c_contiguous


def test_images_read_by_position_are_the_pools_in_the_order_asked(cifar_dir):
    """What the grader reads for the validation split and Part E: only those images, in order."""
    x, y = data.load_training(cifar_dir)
    positions = np.array([49_999, 3, 10_000, 3, 27_512])
    at_x, at_y = data.load_training_at(positions, cifar_dir)
    np.testing.assert_array_equal(at_x, x[positions])
    np.testing.assert_array_equal(at_y, y[positions])
    assert at_x.dtype == at_y.dtype == np.uint8


def test_heldout_unscaled_is_what_rounding_the_scaled_back_gives(cifar_dir):
    scaled, labels = data.load_heldout(cifar_dir)
    raw, raw_labels = data.load_heldout(cifar_dir, scaled=False)
    assert raw.dtype == np.uint8 and raw.shape == (10_000, 32, 32, 3) and raw.flags.c_contiguous
    np.testing.assert_array_equal(raw, (scaled * 255).round().astype(np.uint8))
    np.testing.assert_array_equal(raw_labels, labels)
    every = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal((data._scaled(every) * 255).round().astype(np.uint8), every)


def test_batches_read_as_kerass_loader_reads_them(cifar_dir):
    from keras.src.datasets.cifar import load_batch

    path = data.batches_dir(cifar_dir) / data.TEST_BATCH
    ours, theirs = data.load_batch(path), load_batch(str(path))
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert list(ours[1]) == list(theirs[1])


def test_reading_the_data_imports_no_tensorflow(cifar_dir):
    """The grader's trusted side reads the batches in every grading process: without TensorFlow."""
    import subprocess
    import sys

    code = ("import sys; from cnnkit import data; data.load_heldout(sys.argv[1], scaled=False); "
            "data.load_training(sys.argv[1]); data.load_training_at([1], sys.argv[1]); print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(cifar_dir)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
