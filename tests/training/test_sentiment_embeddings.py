"""word2vec start for the sentiment embedding: training ids only, the same on every run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from training.sentiment.embeddings import Word2VecSettings, stable_hash, word2vec_matrix
from training.sentiment.sequences import EncodedReviews


def _reviews(seed: int = 0, n: int = 200, vocabulary: int = 40) -> EncodedReviews:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 30, n).astype(np.int32)
    tokens = np.zeros((n, 30), np.int64)
    for row, length in enumerate(lengths):
        # ids 2..vocabulary-11 only: the last ten ids never occur
        tokens[row, :length] = rng.integers(2, vocabulary - 10, length)
    return EncodedReviews(tokens, lengths, rng.integers(0, 2, n).astype(np.float32))


def test_matrix_rows_are_word2vec_vectors_for_seen_ids_only() -> None:
    settings = Word2VecSettings(dimensions=8, seed=3, epochs=2)
    matrix, info = word2vec_matrix(_reviews(), 40, settings, lambda _: None)
    assert matrix.shape == (40, 8) and matrix.dtype == np.float32
    assert not matrix[0].any()  # padding
    assert info["ids_covered"] == 28  # ids 2..29
    # Unseen ids keep a small random start; learned vectors are larger.
    assert np.abs(matrix[30:]).max() < 0.3
    assert np.linalg.norm(matrix[2:30], axis=1).mean() > np.linalg.norm(matrix[30:], axis=1).mean()


def test_same_settings_give_the_same_matrix() -> None:
    settings = Word2VecSettings(dimensions=8, seed=3, epochs=2)
    first, _ = word2vec_matrix(_reviews(), 40, settings, lambda _: None)
    second, _ = word2vec_matrix(_reviews(), 40, settings, lambda _: None)
    np.testing.assert_array_equal(first, second)


def test_the_seed_hash_does_not_change_between_processes() -> None:
    # Python's own str hash is salted per process (PYTHONHASHSEED); gensim would use it.
    script = "from training.sentiment.embeddings import stable_hash; print(stable_hash('12'))"
    runs = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert runs == {str(stable_hash("12"))}
