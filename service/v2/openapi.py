"""The protocol's HTTP endpoints in the OpenAPI document (tag `kserve-v2`), with examples.

They are served by service.v2.http, not FastAPI, so they are written here. The request schema
states the protocol's structure; the rules JSON schema cannot state (the amount of `data` a
`shape` holds, the model's input names and datatypes, binary tensor data after the JSON) are
checked by the handler and answered with 400 and `{"error": "..."}`.
"""

from __future__ import annotations

from typing import Any

TAG = "kserve-v2"
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
    "additionalProperties": False,
}
_PARAMETERS = {
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "integer", "boolean"]},
}
_SHAPE = {"type": "array", "items": {"type": "integer", "minimum": 0}, "maxItems": 8}
_INPUT = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string", "examples": ["FP32", "BYTES"]},
        "shape": _SHAPE,
        "parameters": _PARAMETERS,
        "data": {"type": "array", "description": "row-major, flat or nested"},
    },
}
_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {
            **_PARAMETERS,
            "description": "`horizon` (forecast models: fewer steps than the model's); "
            "`binary_data_output` (every output as binary tensor data)",
        },
        "inputs": {"type": "array", "minItems": 1, "items": _INPUT},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
            },
        },
    },
}
_TENSOR_METADATA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}
_MODEL_METADATA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": _TENSOR_METADATA},
        "outputs": {"type": "array", "items": _TENSOR_METADATA},
    },
}
_RESPONSE = {
    "type": "object",
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "datatype": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer"}},
                    "parameters": _PARAMETERS,
                    "data": {"type": "array"},
                },
            },
        },
    },
}
_EXAMPLES = {
    "forecast": {
        "summary": "forecast/1: one 12-step series, 3 steps ahead",
        "value": {
            "inputs": [
                {
                    "name": "series",
                    "datatype": "FP32",
                    "shape": [1, 12],
                    "data": [
                        0.12,
                        0.25,
                        0.31,
                        0.18,
                        -0.05,
                        -0.22,
                        -0.31,
                        -0.2,
                        0.02,
                        0.21,
                        0.33,
                        0.28,
                    ],
                }
            ],
            "parameters": {"horizon": 3},
        },
    },
    "sentiment": {
        "summary": "sentiment/1: two reviews",
        "value": {
            "id": "r-1",
            "inputs": [
                {
                    "name": "texts",
                    "datatype": "BYTES",
                    "shape": [2],
                    "data": [
                        "A wonderful film, I loved every minute.",
                        "Dull plot and wooden acting.",
                    ],
                }
            ],
        },
    },
}
_ERROR_STATUSES = {
    "400": "Invalid request: tensor names, datatypes, shapes or data; the task's own checks",
    "401": "API key missing or wrong (inference only, when one is configured)",
    "404": "No such model or version",
    "413": "Body larger than --max-body-bytes",
    "415": "Content-Encoding other than gzip or deflate",
    "503": "Not ready, or the model's queue is full (Retry-After)",
    "504": "The request waited --request-timeout-ms for its batch and was not computed",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: str) -> dict[str, Any]:
    return {s: {"description": _ERROR_STATUSES[s], "content": _json(_ERROR)} for s in statuses}


def _model_params(versioned: bool) -> list[dict[str, Any]]:
    names = ["model", "version"] if versioned else ["model"]
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


def _get(summary: str, schema: dict[str, Any], *errors: str, params: Any = ()) -> dict[str, Any]:
    return {
        "get": {
            "tags": [TAG],
            "summary": summary,
            "parameters": list(params),
            "responses": {
                "200": {"description": summary, "content": _json(schema)},
                **_errors(*errors),
            },
        }
    }


def add_v2(document: dict[str, Any]) -> None:
    """Add the protocol's HTTP operations to an OpenAPI document, in place."""
    paths = document.setdefault("paths", {})
    paths["/v2"] = _get("Server metadata and extensions", {"type": "object"})
    paths["/v2/health/live"] = _get('Liveness: {"live": true}', {"type": "object"})
    paths["/v2/health/ready"] = _get(
        "Readiness (503 until the models are loaded)", {"type": "object"}, "503"
    )
    for versioned in (False, True):
        base = "/v2/models/{model}" + ("/versions/{version}" if versioned else "")
        params = _model_params(versioned)
        which = "a pinned version" if versioned else "the newest version"
        paths[base] = _get(f"Model metadata of {which}", _MODEL_METADATA, "404", params=params)
        paths[f"{base}/ready"] = _get(
            f"Readiness of {which}", {"type": "object"}, "404", "503", params=params
        )
        paths[f"{base}/infer"] = {
            "post": {
                "tags": [TAG],
                "summary": f"Inference with {which} (JSON tensors or binary tensor data)",
                "description": "Binary tensor data (Triton's extension): the JSON header, then "
                "the tensors' bytes, with the header's length in "
                "`Inference-Header-Content-Length`; inputs say `binary_data_size`, outputs "
                "ask for `binary_data`.",
                "parameters": params,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _REQUEST, "examples": _EXAMPLES},
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                },
                "responses": {
                    "200": {"description": "The outputs", "content": _json(_RESPONSE)},
                    **_errors("400", "401", "404", "413", "415", "503", "504"),
                },
            }
        }
