"""The chaos scenarios: each starts a service from this checkout in a work folder, loads it,
applies one fault or attack, and returns a `ScenarioReport` (tests/chaos asserts it passed;
`python -m loadtest --profile chaos` prints it)."""
