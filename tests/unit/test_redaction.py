"""Personal data never reaches a log line, however it is nested."""

import json

import structlog

from shared.logging import configure_logging


def test_sensitive_values_are_redacted(capsys) -> None:  # type: ignore[no-untyped-def]
    from shared.settings import LoggingSettings

    configure_logging("test", LoggingSettings(format="json"))
    structlog.reset_defaults()
    configure_logging("test", LoggingSettings(format="json"))
    log = structlog.get_logger("t")
    log.info(
        "x",
        report_id="CL-1",
        child={"first_name": "Avery"},
        extra={"narrative": "secret story"},
        items=[{"date_of_birth": "2010-01-01"}],
        webhook_secret="whsec_abc",
    )
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["report_id"] == "CL-1"
    for leaked in ("Avery", "secret story", "2010-01-01", "whsec_abc"):
        assert leaked not in line
