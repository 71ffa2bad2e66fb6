"""The OpenAPI document: FastAPI's for the control endpoints, plus the data plane's routes.

The data plane is not a FastAPI route (service.dataplane), so its operations are written
here from the registered tasks: each task's request schema (exactly what it accepts, with
the limits of these settings and the bounds of the default model it would answer with), its
answer model, its examples (one per served model, naming it), and the error answers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.registry import Registry
from service.schemas import ERROR_RESPONSES, ErrorResponse
from service.tasks import TASKS
from service.tasks.checks import Limits

_REF = "#/components/schemas/{model}"


def _component(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def error_responses(statuses: list[int | str], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = _component(ErrorResponse, schemas)
    return {
        str(status): {
            "description": ERROR_RESPONSES[status]["description"],
            "content": {"application/json": {"schema": ref}},
        }
        for status in statuses
    }


def add_data_plane(document: dict[str, Any], limits: Limits, registry: Registry | None) -> None:
    """Add every task's POST operation to a FastAPI OpenAPI document, in place."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for task in TASKS.values():
        default = registry.default_for(task.name) if registry is not None else None
        cards = [m.card for m in registry.all() if m.card.task == task.name] if registry else []
        body: dict[str, Any] = {
            "schema": task.request_schema(limits, default.card if default else None)
        }
        examples = task.examples(cards)
        if examples:
            body["examples"] = examples
        document.setdefault("paths", {})[task.route] = {
            "post": {
                "tags": [task.name],
                "summary": task.summary,
                "operationId": f"{task.name}_post",
                "requestBody": {"required": True, "content": {"application/json": body}},
                "responses": {
                    "200": {
                        "description": "The answer",
                        "content": {
                            "application/json": {"schema": _component(task.response_model, schemas)}
                        },
                    },
                    **error_responses(sorted(ERROR_RESPONSES, key=str), schemas),
                },
            }
        }
