from __future__ import annotations

import os
import signal

import keras
import numpy as np
import pytest

from contract.text import OOV_ID, Tokenizer
from training.sentiment.data import Reviews
from training.sentiment.models import DESCRIPTIONS, ModelConfig, build_model
from training.sentiment.sequences import EncodedReviews, bucketed_batches, encode_reviews
from training.sentiment.train import _StopRequest, _TimeBudget, binary_metrics


def _encoded(lengths: list[int], max_length: int = 120) -> EncodedReviews:
    tokens = np.zeros((len(lengths), max_length), np.int64)
    for row, n in enumerate(lengths):
        tokens[row, :n] = np.arange(2, n + 2)
    labels = np.array([i % 2 for i in range(len(lengths))], np.float32)
    return EncodedReviews(tokens, np.array(lengths, np.int32), labels)


def test_encode_reviews_right_pads_and_gives_empty_reviews_one_oov() -> None:
    tokenizer = Tokenizer(["good"], num_words=10, oov_token="<OOV>", max_length=4, truncation="pre")
    data = encode_reviews(
        tokenizer, Reviews(["good film", "<br />", "a b c d e good"], [1, 0, 1], "t")
    )
    assert data.tokens.tolist() == [[2, OOV_ID, 0, 0], [OOV_ID, 0, 0, 0], [OOV_ID] * 3 + [2]]
    assert data.lengths.tolist() == [2, 1, 4]
    assert data.sequences() == [[2, OOV_ID], [OOV_ID], [OOV_ID] * 3 + [2]]


@pytest.mark.parametrize("shuffled", [False, True])
def test_bucketed_batches_cover_every_row_once_with_tight_widths(shuffled: bool) -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 121, 301).tolist()
    data = _encoded(lengths)
    seen: list[int] = []
    for rows, tokens, labels in bucketed_batches(
        data, 32, rng=np.random.default_rng(1) if shuffled else None, bucket_width=50
    ):
        longest = int(data.lengths[rows].max())
        assert tokens.shape == (len(rows), min(-(-longest // 50) * 50, 120))
        assert (tokens == data.tokens[rows, : tokens.shape[1]]).all()
        assert (labels == data.labels[rows]).all()
        seen += rows.tolist()
    assert sorted(seen) == list(range(301))
    first = [r.tolist() for r, _, _ in bucketed_batches(data, 32)]
    assert first == [r.tolist() for r, _, _ in bucketed_batches(data, 32)]  # fixed order


def test_binary_metrics() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0], np.float32)
    probabilities = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.5], np.float32)
    scores = binary_metrics(labels, probabilities, 0.55)
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("kind", sorted(DESCRIPTIONS))
def test_models_start_masked_and_end_with_a_sigmoid(kind: str) -> None:
    model = build_model(ModelConfig(kind, num_words=50, embedding_dim=4, units=3, dropout=0.2))  # type: ignore[arg-type]
    assert model.layers[0].mask_zero
    assert model.layers[-1].units == 1
    out = model(np.array([[3, 4, 5, 6, 0, 0]]))
    assert out.shape == (1, 1) and 0 < float(out[0, 0]) < 1


def _tiny() -> keras.Model:
    return build_model(ModelConfig("gru", num_words=10, embedding_dim=2, units=2, dropout=0.0))


def test_sigusr1_stops_after_the_epoch_and_restores_the_handler() -> None:
    messages: list[str] = []
    request = _StopRequest(messages.append)
    model = _tiny()
    model.stop_training = False  # what fit() sets before the callbacks run
    request.set_model(model)
    before = signal.getsignal(signal.SIGUSR1)
    request.on_train_begin()
    request.on_epoch_end(0)
    assert not model.stop_training
    os.kill(os.getpid(), signal.SIGUSR1)
    request.on_epoch_end(1)
    assert model.stop_training and request.requested and messages
    request.on_train_end()
    assert signal.getsignal(signal.SIGUSR1) == before


def test_time_budget_stops_before_an_epoch_that_would_overrun() -> None:
    model = _tiny()
    roomy, spent = _TimeBudget(3600.0), _TimeBudget(0.0)
    for budget in (roomy, spent):
        budget.set_model(model)
        model.stop_training = False
        budget.on_epoch_begin(0)
        budget.on_epoch_end(0)
    assert not roomy.stopped
    assert spent.stopped and model.stop_training
