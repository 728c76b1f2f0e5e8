"""The loader's images reach TensorFlow without a copy, and look and compute as plain arrays."""

import subprocess
import sys

import numpy as np
import pytest

from cnnkit import data, zerocopy

# RssAnon (MiB) of a fresh process before and after TensorFlow converts the images the way
# Keras's fit does (tf.data.Dataset.from_tensors), with the loader's arrays and with plain copies.
CONVERT = r"""
import sys
import numpy as np
import tensorflow as tf
from cnnkit import data

def anon():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("RssAnon")) / 1024

(x, y), _ = data.load_training_split(6000, 100, seed=1, directory=sys.argv[1])
if sys.argv[2] == "plain":
    x = np.array(x)
next(iter(tf.data.Dataset.from_tensors(np.zeros((2, 2), np.float32))))  # tf.data's own start-up
before = anon()
dataset = tf.data.Dataset.from_tensors((x, y))
tensor = next(iter(dataset))[0]
assert np.array_equal(tensor.numpy(), x)
print(anon() - before, x.nbytes / 2**20)
"""


def converted_growth(cifar_dir, kind):
    done = subprocess.run([sys.executable, "-c", CONVERT, str(cifar_dir), kind], capture_output=True,
                          text=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    return [float(v) for v in done.stdout.split()]


def test_the_loaders_images_reach_tensorflow_without_a_copy_where_a_plain_array_is_copied(cifar_dir):
    """A fit's conversion of the loader's images costs at least their whole size less than a copy's."""
    grown, size = converted_growth(cifar_dir, "zerocopy")
    plain_grown, _ = converted_growth(cifar_dir, "plain")
    # Both include tf.data's iterator (about 18 MiB here); only the plain array's include a copy.
    assert plain_grown > size, f"a plain array should be copied (grew {plain_grown:.0f} MiB for {size:.0f})"
    assert grown < plain_grown - 0.9 * size, (
        f"the loader's images were copied: {grown:.0f} MiB more, a plain array {plain_grown:.0f}, "
        f"the images {size:.0f}")


@pytest.fixture(scope="module")
def images(cifar_dir):
    (x, _), _ = data.load_training_split(64, 8, seed=3, directory=cifar_dir)
    return x


def test_it_prints_and_computes_as_a_plain_array(images):
    """A student sees a NumPy array: its printout, and plain arrays and numbers from arithmetic."""
    plain = np.array(images)
    assert isinstance(images, zerocopy.ZeroCopyArray) and isinstance(images, np.ndarray)
    assert repr(images[:2, :2, :2]) == repr(plain[:2, :2, :2]) and str(images[0, 0]) == str(plain[0, 0])
    assert type(images * 2) is np.ndarray and type(images.mean()) is np.float32
    assert float(images.max()) == float(plain.max()) <= 1.0
    scaled = images.copy()
    scaled /= 2
    assert isinstance(scaled, zerocopy.ZeroCopyArray) and np.array_equal(scaled, plain / 2)


def test_slices_from_the_start_are_shared_and_other_views_are_not(images):
    """fit(x[:n]) reads in place; strided, read-only or offset views fall back to a copy."""
    assert images.shareable() and images[:10].shareable() and images[3:].shareable()
    read_only = images[:10].view()
    read_only.flags.writeable = False
    assert not images[::2].shareable() and not read_only.shareable() and not images[:, 1:].shareable()


def test_every_view_converts_to_the_same_values(images):
    """Shared or copied, and in any dtype asked for, TensorFlow gets the array's values."""
    tf = pytest.importorskip("tensorflow")
    read_only = images.view()
    read_only.flags.writeable = False
    for view in (images, images[:5], images[::2], images[:, 1:], read_only):
        np.testing.assert_array_equal(tf.convert_to_tensor(view).numpy(), np.array(view))
    doubled = tf.convert_to_tensor(images, dtype=tf.float64)
    assert doubled.dtype == tf.float64 and np.array_equal(doubled.numpy(), images.astype(np.float64))
    same = tf.convert_to_tensor(images, dtype="float32")
    np.testing.assert_array_equal(same.numpy(), np.array(images))
    with pytest.raises(ValueError):  # what TensorFlow says of a plain object array, not a new error
        tf.convert_to_tensor(images.astype(object))
    # An object copy may land on the 64-byte boundary (the allocator decides): make one that does.
    spare = np.empty(images.size + zerocopy.ALIGNMENT, object)
    start = (-spare.ctypes.data % zerocopy.ALIGNMENT) // spare.itemsize
    aligned = spare[start:start + images.size].reshape(images.shape).view(zerocopy.ZeroCopyArray)
    aligned[...] = images
    assert aligned.ctypes.data % zerocopy.ALIGNMENT == 0 and not aligned.shareable()
    with pytest.raises(ValueError):
        tf.convert_to_tensor(aligned)
    swapped = zerocopy.empty(images.shape, ">f4")
    swapped[...] = images
    assert not swapped.shareable()
    np.testing.assert_array_equal(tf.convert_to_tensor(swapped).numpy(), np.array(images))


def test_ops_that_read_a_shared_array_never_write_to_it(images):
    """TensorFlow may reuse an input's buffer for an op's output only if it owns it: not ours."""
    tf = pytest.importorskip("tensorflow")
    before = np.array(images)
    tf.nn.relu(-tf.convert_to_tensor(images))
    tf.math.negative(tf.convert_to_tensor(images[:8]))
    np.testing.assert_array_equal(images, before)


def test_aligned_arrays_start_on_the_boundary_tensorflow_needs():
    for shape in ((1,), (3, 5), (7, 32, 32, 3)):
        array = zerocopy.empty(shape, np.float32)
        assert array.shape == shape and array.ctypes.data % zerocopy.ALIGNMENT == 0
