"""Image arrays that TensorFlow reads in place, so that a student's ``fit`` copies none of them.

Keras 3 hands NumPy arrays to ``tf.data.Dataset.from_tensors`` in every ``fit``, ``evaluate``
and ``predict``, and TensorFlow's conversion of a NumPy array holds two copies of it for as long
as the tensor lives: 355 MiB for the student budget's 176 MiB of training images, beside the
array itself (docs/speed.md). In a kernel that many hubs cap at 1 GiB, that decides whether the
lesson finishes.

A ``ZeroCopyArray`` is a NumPy array in all a student sees: the same printout, and arithmetic
gives plain arrays. It adds TensorFlow's public conversion protocol (``__tf_tensor__``,
``tf.types.experimental.TensorProtocol``): while it is C-contiguous, writeable and aligned as
TensorFlow's kernels need, the tensor is made over the same memory with DLPack. Anything else
(a strided or read-only view, another dtype, inside a graph) converts as a plain array does.
The tensor holds the very bytes a copy would, so training on it is bit-identical; TensorFlow never
writes into memory it does not own (it forwards only buffers it allocated), so the array is
never changed by the ops that read it. The one difference a student could meet: a tensor or
dataset made from the array and kept (``tf.constant(train_images)``) sees later in-place writes
to the array (``train_images *= 2``), where a copy would not. Keras's ``fit`` keeps none past
its end, and the lesson writes to the images only in the loader, before any tensor exists.

This module imports no TensorFlow: only the conversion does, and TensorFlow is loaded by then.
"""

import numpy as np

# Bytes. TensorFlow copies any buffer less aligned than Eigen's largest vectors
# (EIGEN_MAX_ALIGN_BYTES, 64 with AVX-512), and NumPy aligns its arrays to 16 only.
ALIGNMENT = 64


def empty(shape, dtype):
    """An uninitialised ``ZeroCopyArray`` whose data starts on an ``ALIGNMENT`` boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape).view(ZeroCopyArray)


def _plain(value):
    return value.view(np.ndarray) if isinstance(value, ZeroCopyArray) else value


class ZeroCopyArray(np.ndarray):
    """A NumPy array that TensorFlow converts to a tensor over its own memory, not a copy."""

    def shareable(self):
        """Whether TensorFlow can read this array in place (else it is converted by copying)."""
        # Numbers in this machine's byte order only: DLPack has no object, string or swapped
        # dtypes (an object copy of the images must fail with TensorFlow's own ValueError, however
        # its memory happens to be aligned, and a big-endian copy must convert as a plain one).
        return bool(self.dtype.kind in "iuf" and self.dtype.isnative and self.flags.c_contiguous
                    and self.flags.writeable and self.size and self.ctypes.data % ALIGNMENT == 0)

    def __tf_tensor__(self, dtype=None, name=None):
        import tensorflow as tf

        same_dtype = dtype is None or np.dtype(tf.as_dtype(dtype).as_numpy_dtype) == self.dtype
        if same_dtype and self.shareable() and tf.executing_eagerly():
            # The capsule holds a reference to this array until TensorFlow frees the tensor.
            return tf.experimental.dlpack.from_dlpack(self.__dlpack__())
        return tf.convert_to_tensor(self.view(np.ndarray), dtype=dtype, name=name)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # Arithmetic and reductions work on plain views and give plain arrays and numbers: only
        # the loader's arrays and their slices are shared with TensorFlow. An ``out=`` array is
        # returned as given, so ``images /= 255`` keeps its type.
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*(_plain(i) for i in inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result

    def __repr__(self):
        return repr(self.view(np.ndarray))
