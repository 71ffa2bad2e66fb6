"""Property-based fuzzing of the service with schemathesis, from its own OpenAPI schema.

Every documented operation gets generated requests, valid and invalid, through the ASGI app
(its lifespan loads the fixture models), checked by every schemathesis check: no 5xx, every
answer matches what the schema documents for it (status, headers, content type, body), a
request the schema calls valid is accepted and one it calls invalid is rejected, so the
published request schemas and the service's hand-written checks say the same thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES
from schemathesis.generation.modes import GenerationMode

from service.app import create_app
from service.config import Settings

# A schema-invalid body may also be refused for its size before it is read (413): the body
# limit is a transport limit, not part of the request schema.
REJECTIONS = [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}}
)


@pytest.fixture(scope="module")
def api_schema(zoo: Path) -> schemathesis.BaseSchema:
    app = create_app(Settings(models_dir=zoo))
    # KServe V2 tensors have rules JSON schema cannot state (the data a shape holds, the
    # model's input names): their operations are tested with real clients (tests/v2).
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    return schema.exclude(path_regex="^/v2")


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
        case.call_and_validate()  # every built-in check

    check()
