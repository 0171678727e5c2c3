"""Logs: an allow-list, applied to structlog fields, exception text, and stdlib/uvicorn records alike."""

import json
import logging

import pytest
import structlog
import uvicorn

from shared.logging import configure_logging
from shared.settings import LoggingSettings
from tests.security.probe import tried

PERSONAL = ("Jane Doe", "12 Oak St", "2011-04-05", "whsec_s3cret")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.strip().splitlines() if line.startswith("{")]


@pytest.fixture
def json_logs() -> None:
    structlog.reset_defaults()
    configure_logging("security-test", LoggingSettings(format="json"))


def test_unknown_fields_are_dropped_and_ids_kept(capsys: pytest.CaptureFixture[str], json_logs: None) -> None:
    log = structlog.get_logger("t")
    log.warning("routing_odd", report_id="CL-1", town="Jane Doe's aunt at 12 Oak St", misc={"dob": "2011-04-05"})
    record = _lines(capsys)[-1]
    tried("structlog fields town=<free text>, misc={dob}", record)
    assert record["report_id"] == "CL-1" and record["town"] == "[REDACTED]" and record["misc"] == "[REDACTED]"
    assert not any(p in json.dumps(record) for p in PERSONAL)


def test_exception_text_is_never_printed(capsys: pytest.CaptureFixture[str], json_logs: None) -> None:
    log = structlog.get_logger("t")
    try:
        raise ValueError("child Jane Doe, 12 Oak St, born 2011-04-05")
    except ValueError as exc:
        log.exception("handler_failed", error=str(exc), problem="value 'Jane Doe' rejected")
    record = _lines(capsys)[-1]
    tried("log.exception with a message naming the child, error=str(exc)", record)
    assert "ValueError" in str(record["exception"]) and "in test_exception_text_is_never_printed" in str(
        record["exception"]
    )
    assert str(record["error"]).startswith("[REDACTED text") and str(record["problem"]).startswith("[REDACTED")
    assert not any(p in json.dumps(record) for p in PERSONAL)
    log.warning("oauth_failed", error="invalid_grant", reason="schema_invalid")
    codes = _lines(capsys)[-1]
    assert (codes["error"], codes["reason"]) == ("invalid_grant", "schema_invalid")  # codes pass


def test_sql_parameters_in_messages_are_scrubbed(capsys: pytest.CaptureFixture[str], json_logs: None) -> None:
    logging.getLogger("sqlalchemy.pool").error(
        "(DataError) value too long [SQL: INSERT INTO x VALUES ($1)] [parameters: (Jane Doe,)]"
    )
    record = _lines(capsys)[-1]
    tried("a stdlib record carrying SQLAlchemy's statement and parameters", record)
    assert "Jane Doe" not in json.dumps(record) and "[SQL redacted]" in str(record["event"])


def test_stdlib_and_uvicorn_records_pass_the_same_allow_list(
    capsys: pytest.CaptureFixture[str], json_logs: None
) -> None:
    uvicorn.Config(app=lambda *_: None, log_level="warning").configure_logging()  # what uvicorn.run does
    try:
        raise RuntimeError("narrative: Jane Doe at 12 Oak St")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("aiokafka").warning("could not send %s", "'Jane Doe'")
    lines = _lines(capsys)
    tried("uvicorn.error .exception(...) and an aiokafka warning with personal text", lines[-2:])
    assert len(lines) >= 2
    uvicorn_line, kafka_line = lines[-2], lines[-1]
    assert uvicorn_line["logger"] == "uvicorn.error" and "RuntimeError" in str(uvicorn_line["exception"])
    assert kafka_line["logger"] == "aiokafka" and kafka_line["service"] == "security-test"
    assert not any(p in json.dumps(lines[-2:]) for p in PERSONAL)
