from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from tests.service.helpers import direct_sentiment

TEXTS = [
    "A wonderful film, great acting and a great story!",
    "Dull plot, bad acting. A boring and awful movie.",
    "I loved it<br /><br />wonderful and moving",
    "Unseen words only: zyzzyva quixotic",
]


def test_answers_equal_a_direct_onnxruntime_call(client: TestClient, zoo: Path) -> None:
    response = client.post("/sentiment", json={"texts": TEXTS})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("sentiment", "1")
    expected = direct_sentiment(zoo / "sentiment" / "1", TEXTS)
    results = body["results"]
    assert len(results) == len(TEXTS)
    positives = [result["probabilities"]["positive"] for result in results]
    np.testing.assert_allclose(positives, expected, rtol=1e-6, atol=1e-6)
    for result, probability in zip(results, expected, strict=True):
        label = "positive" if probability >= 0.5 else "negative"
        assert result["label"] == label
        assert result["score"] == result["probabilities"][label]
        assert abs(sum(result["probabilities"].values()) - 1.0) < 1e-6


def test_long_text_is_truncated_and_says_so(client: TestClient, zoo: Path) -> None:
    # max_length is 12 tokens with "pre" truncation: the end of the text is kept.
    long_text = "awful boring bad " * 10 + "a wonderful film, great acting"
    response = client.post("/sentiment", json={"texts": [long_text, "great"]})
    first, second = response.json()["results"]
    assert (first["truncated"], first["n_tokens"]) == (True, 36)
    assert (second["truncated"], second["n_tokens"]) == (False, 1)
    tail = "awful boring bad " * 2 + "a wonderful film, great acting"  # its last 12 tokens
    expected = direct_sentiment(zoo / "sentiment" / "1", [long_text])[0]
    same_as_tail = client.post("/sentiment", json={"texts": [tail]}).json()
    assert abs(first["probabilities"]["positive"] - expected) < 1e-6
    assert same_as_tail["results"][0]["probabilities"] == first["probabilities"]
