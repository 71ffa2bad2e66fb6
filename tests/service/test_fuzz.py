"""Property-based fuzzing of the service with schemathesis, from its own OpenAPI schema.

Every documented operation gets generated requests, valid and invalid, through the ASGI app
(its lifespan loads the fixture models). No answer may be a 5xx, and every answer must match
what the schema documents for it: status code, content type and body.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from service.app import create_app
from service.config import Settings

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@pytest.fixture(scope="module", params=[True, False], ids=["fast-path", "fastapi-routes"])
def api_schema(zoo: Path, request: pytest.FixtureRequest) -> schemathesis.BaseSchema:
    app = create_app(Settings(models_dir=zoo, fast_path=request.param))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_no_server_error_and_every_answer_matches_the_schema(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    """Positive cases fit the schema, negative ones break it; both across every operation.

    (schemathesis' own pytest loader does not run under pytest 9, so Hypothesis drives the
    schema's strategy directly.)
    """

    @given(case=api_schema.as_strategy(mode))
    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    check()
