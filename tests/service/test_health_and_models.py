from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings


def test_readiness_is_503_before_loading_and_200_after(zoo: Path) -> None:
    app = create_app(Settings(models_dir=zoo))
    test_client = TestClient(app)  # not entered: the lifespan has not run
    assert test_client.get("/healthz").status_code == 200
    before = test_client.get("/readyz")
    assert before.status_code == 503
    assert before.json()["error"]["code"] == "not_ready"
    refused = test_client.post("/forecast", json={"series": [[1.0, 2.0, 3.0]]})
    assert refused.status_code == 503
    with test_client:
        after = test_client.get("/readyz")
        assert after.status_code == 200
        assert after.json() == {
            "status": "ready",
            "models": {"forecast": ["1", "2", "10"], "sentiment": ["1"], "weather": ["1"]},
        }
    assert test_client.get("/readyz").status_code == 503  # after shutdown


def test_models_lists_every_card(client: TestClient) -> None:
    models = client.get("/models").json()["models"]
    assert [(m["name"], m["task"], m["default_version"]) for m in models] == [
        ("forecast", "forecast", "10"),
        ("sentiment", "sentiment", "1"),
        ("weather", "forecast", "1"),
    ]
    forecast = models[0]
    assert [v["version"] for v in forecast["versions"]] == ["1", "2", "10"]
    assert forecast["versions"][2]["card"]["forecast"]["horizon"] == 5


def test_model_stats_show_batching(client: TestClient) -> None:
    before = client.get("/models/weather/1").json()["stats"]
    series = [[[1.0, 2.0]] * 3] * 4
    assert client.post("/forecast", json={"series": series, "model": "weather"}).status_code == 200
    after = client.get("/models/weather").json()["versions"][0]["stats"]
    assert after["batches"] == before["batches"] + 1
    assert after["rows"] == before["rows"] + 4
    assert after["average_batch_rows"] == after["rows"] / after["batches"]
    assert 1 <= after["rows_per_run"] <= Settings().max_batch_size


def test_openapi_documents_bodies_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/forecast"]["post"]["requestBody"]["content"]["application/json"]
    assert "series" in body["schema"]["properties"]
    assert "/sentiment" in spec["paths"]
    assert client.get("/docs").status_code == 200
    # One example per served version, each naming its model and answered by it.
    for path, task in (("/forecast", "forecast"), ("/sentiment", "sentiment")):
        content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        served = {
            f"{model['name']}/{version['version']}"
            for model in client.get("/models").json()["models"]
            if model["task"] == task
            for version in model["versions"]
        }
        assert set(content["examples"]) == served
        for key, example in content["examples"].items():
            answer = client.post(path, json=example["value"])
            assert answer.status_code == 200, answer.text
            assert f"{answer.json()['model']}/{answer.json()['version']}" == key
