"""Chaos scenarios: faults and hostile clients against a service under load, with the load,
the attackers and the report they share (`python -m loadtest --profile chaos`, tests/chaos)."""
