"""Limits and retention that need no network: every string intake and acks accept has a length cap; intake's
server runs with concurrency, keep-alive and header-size limits; topic retention matches the database purge."""

from typing import Any

import pytest
from pydantic import BaseModel

from services.compliance.settings import RetentionSettings
from shared.events import AckRequest, CarelineReport
from shared.topics import topic_specs
from tests.security.probe import tried


def _uncapped(schema: dict[str, Any], defs: dict[str, Any], path: str = "") -> list[str]:
    """Paths of string fields (or list items) without maxLength, and lists without maxItems."""
    if "$ref" in schema:
        return _uncapped(defs[schema["$ref"].split("/")[-1]], defs, path)
    found: list[str] = []
    for option in schema.get("anyOf", []):
        found += _uncapped(option, defs, path)
    kind = schema.get("type")
    bounded = "maxLength" in schema or "enum" in schema or "const" in schema or "}$" in schema.get("pattern", "")
    if kind == "string" and not bounded:  # a pattern ending in {m,n}$ bounds the length too
        if schema.get("format") not in ("date", "date-time"):
            found.append(path)
    if kind == "array":
        if "maxItems" not in schema:
            found.append(f"{path}[] (no maxItems)")
        found += _uncapped(schema.get("items", {}), defs, f"{path}[]")
    for name, sub in schema.get("properties", {}).items():
        found += _uncapped(sub, defs, f"{path}.{name}" if path else name)
    return found


@pytest.mark.parametrize("model", [CarelineReport, AckRequest])
def test_every_accepted_string_and_list_has_a_length_cap(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    uncapped = _uncapped(schema, schema.get("$defs", {}))
    tried(f"{model.__name__}: string and list fields without a cap", uncapped or "none")
    assert uncapped == []


def test_intake_serves_with_concurrency_keep_alive_and_header_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    import services.intake.app as intake_app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(intake_app.uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("INTAKE_CONSUME_INBOUND_TOPIC", "false")
    intake_app.main()
    limits = {k: seen.get(k) for k in ("limit_concurrency", "timeout_keep_alive", "h11_max_incomplete_event_size")}
    tried("uvicorn.run arguments of python -m services.intake (defaults)", limits)
    assert limits == {"limit_concurrency": 64, "timeout_keep_alive": 5, "h11_max_incomplete_event_size": 16 * 1024}


def test_every_topic_keeps_records_as_long_as_the_database_keeps_the_report() -> None:
    days = RetentionSettings().retention_days
    retention = {spec.name: int(spec.configs["retention.ms"]) // (24 * 3600 * 1000) for spec in topic_specs()}
    tried(f"retention.ms per topic, in days (AUDIT_RETENTION_DAYS={days})", sorted(set(retention.values())))
    assert set(retention.values()) == {days}
