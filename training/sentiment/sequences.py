"""Reviews -> right-padded id matrices, and length-bucketed batches for Keras.

Training pads with 0 on the right (the ONNX graph contract), so the Embedding mask, the
`lengths` input of the graph and the service agree. Batches group reviews of similar length
and are cut to the longest row (rounded up to a bucket width), so the masked RNNs do not
loop over hundreds of padding steps: most reviews are far shorter than `max_length`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from contract.text import OOV_ID, Tokenizer
from training.sentiment.data import Reviews


@dataclass(frozen=True)
class EncodedReviews:
    tokens: np.ndarray  # int64 [n, max_length], right-padded with 0
    lengths: np.ndarray  # int32 [n], >= 1
    labels: np.ndarray  # float32 [n], 0 = negative, 1 = positive

    def __len__(self) -> int:
        return len(self.lengths)

    def sequences(self) -> list[list[int]]:
        """The unpadded id lists (what the service sends, row by row)."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths, strict=True)]


def encode_reviews(tokenizer: Tokenizer, reviews: Reviews) -> EncodedReviews:
    """Encode with the shared tokenizer; a review without any token becomes one OOV id."""
    encoded = tokenizer.encode_batch(reviews.texts)
    tokens = np.zeros((len(encoded), tokenizer.max_length), np.int64)
    lengths = np.empty(len(encoded), np.int32)
    for row, item in enumerate(encoded):
        ids = item.ids or [OOV_ID]
        tokens[row, : len(ids)] = ids
        lengths[row] = len(ids)
    return EncodedReviews(tokens, lengths, np.asarray(reviews.labels, np.float32))


def bucketed_batches(
    data: EncodedReviews,
    batch_size: int,
    *,
    rng: np.random.Generator | None = None,
    bucket_width: int = 50,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (row indices, tokens cut to the batch's width, labels).

    Rows are ordered by length bucket; with `rng`, rows are shuffled inside each bucket and
    the batch order is shuffled (training), else the order is fixed (evaluation).
    """
    order = rng.permutation(len(data)) if rng is not None else np.arange(len(data))
    buckets = (data.lengths[order] - 1) // bucket_width
    order = order[np.argsort(buckets, kind="stable")]
    starts = np.arange(0, len(order), batch_size)
    if rng is not None:
        starts = rng.permutation(starts)
    for start in starts:
        rows = order[start : start + batch_size]
        longest = int(data.lengths[rows].max())
        width = min(-(-longest // bucket_width) * bucket_width, data.tokens.shape[1])
        yield rows, data.tokens[rows, :width], data.labels[rows]


def batch_count(data: EncodedReviews, batch_size: int) -> int:
    return -(-len(data) // batch_size)
