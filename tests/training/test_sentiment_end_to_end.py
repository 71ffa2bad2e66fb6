"""A few hundred reviews through the whole pipeline: train 1 epoch, export, parity, padding
invariance, then the artifact used the way the service uses it; and the comparison table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from contract.card import VOCABULARY_FILE, ModelCard
from contract.hashing import sha256_of
from contract.text import Tokenizer
from training.sentiment.cli import main

from .test_sentiment_data import make_reviews, write_csv

SMALL = ["--validation-size", "60", "--test-size", "60", "--num-words", "300"]
SMALL += ["--max-length", "40", "--embedding-dim", "8", "--units", "4", "--epochs", "1"]


@pytest.fixture(scope="module")
def reviews_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("data") / "reviews.csv", make_reviews(360, seed=3))


@pytest.fixture(scope="module")
def artifact(reviews_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("models") / "sentiment" / "1"
    assert main(["train", "--data", str(reviews_csv), "--output", str(output), *SMALL]) == 0
    return output


def _run(session: ort.InferenceSession, sequences: list[list[int]]) -> np.ndarray:
    width = max(len(s) for s in sequences)
    tokens = np.zeros((len(sequences), width), np.int64)
    for row, sequence in enumerate(sequences):
        tokens[row, : len(sequence)] = sequence
    lengths = np.array([len(s) for s in sequences], np.int32)
    return np.asarray(session.run(None, {"tokens": tokens, "lengths": lengths})[0])


@pytest.mark.slow
def test_train_writes_a_verified_artifact(artifact: Path) -> None:
    card = ModelCard.load(artifact)
    assert card.task == "sentiment" and card.name == "sentiment" and card.version == "1"
    assert card.sentiment is not None
    assert card.sentiment.labels == ["negative", "positive"]
    assert card.sentiment.threshold == 0.5
    spec = card.sentiment.tokenizer
    assert (spec.num_words, spec.max_length, spec.truncation) == (300, 40, "pre")
    assert spec.vocabulary_sha256 == sha256_of(artifact / VOCABULARY_FILE)
    assert card.sha256 == sha256_of(artifact / card.onnx_file)
    assert card.recurrent_ops == ["GRU"]
    split = card.training["split"]
    assert (split["train"], split["validation"], split["test"], split["seed"]) == (240, 60, 60, 42)
    assert card.parity.cases == 60 and card.parity.max_abs_diff <= 1e-4
    assert 0 <= card.metrics["test_accuracy"] <= 1 and 0 <= card.metrics["test_f1"] <= 1
    assert card.training["epochs"] == 1
    assert (artifact / card.onnx_file).stat().st_size < 20 * 2**20


@pytest.mark.slow
def test_artifact_served_like_the_service(artifact: Path, reviews_csv: Path) -> None:
    card = ModelCard.load(artifact)
    assert card.sentiment is not None
    tokenizer = Tokenizer.load(artifact, card.sentiment.tokenizer)
    session = ort.InferenceSession(str(artifact / card.onnx_file))
    texts = [text for text, _ in make_reviews(40, seed=11)]
    sequences = [tokenizer.encode(text).ids for text in texts]
    assert all(sequences) and len({len(s) for s in sequences}) > 5
    batched = _run(session, sequences)
    alone = np.array([_run(session, [s])[0] for s in sequences])
    assert batched.shape == (40,)
    assert np.all((batched > 0) & (batched < 1))
    np.testing.assert_allclose(batched, alone, atol=1e-6)  # padding invariance


@pytest.mark.slow
def test_existing_artifact_needs_overwrite(artifact: Path, reviews_csv: Path) -> None:
    before = (artifact / "card.json").read_bytes()
    assert main(["train", "--data", str(reviews_csv), "--output", str(artifact), *SMALL]) == 2
    assert (artifact / "card.json").read_bytes() == before


@pytest.mark.slow
def test_compare_writes_the_results_table(
    reviews_csv: Path, artifact: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    argv = ["compare", "--data", str(reviews_csv), "--models", "gru", "bilstm"]
    argv += ["--results-dir", str(results), "--served-model", str(artifact)]
    argv += ["--parity-reviews", "30", *SMALL]
    assert main(argv) == 0
    report = json.loads((results / "results.json").read_text("utf-8"))
    assert [row["kind"] for row in report["rows"]] == ["gru", "bilstm"]
    for row in report["rows"]:
        assert 0 <= row["test_accuracy"] <= 1
        assert row["onnx_parity"].startswith("ok on 30 reviews"), row["onnx_parity"]
    assert report["rows"][1]["recurrent_ops"] == ["LSTM"]
    assert report["served_model"]["path"] == str(artifact)
    table = (results / "results.md").read_text("utf-8")
    assert "| gru |" in table and "| bilstm |" in table and "Served model" in table

    # `table` rewrites it from results.json alone, here without a served model.
    assert main(["table", "--results-dir", str(results), "--served-model", str(tmp_path)]) == 0
    assert json.loads((results / "results.json").read_text("utf-8"))["served_model"] is None
    assert "Served model" not in (results / "results.md").read_text("utf-8")
