"""Process-wide TensorFlow settings: thread count and seeds (call before building models)."""

from __future__ import annotations

import os


def configure(threads: int, seed: int) -> None:
    """Pin TensorFlow to `threads` CPU threads and seed Python, NumPy and TensorFlow."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # already initialised in this process (tests): the first setting stays
    keras.utils.set_random_seed(seed)


def thread_count() -> int:
    import tensorflow as tf

    return int(tf.config.threading.get_intra_op_parallelism_threads())
