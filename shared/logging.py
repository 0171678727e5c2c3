"""structlog set-up: JSON in production, readable locally, and personal data redacted before output.

The redaction processor is the last line of defence: code should not log personal data at all, but
if a field with a sensitive name reaches a log call, its value never leaves the process.
"""

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from shared.settings import LoggingSettings

REDACTED = "[REDACTED]"
SENSITIVE_KEYS = frozenset(
    {
        "child",
        "first_name",
        "last_name",
        "name",
        "date_of_birth",
        "dob",
        "address",
        "current_location",
        "narrative",
        "reporter",
        "phone",
        "alleged_traffickers",
        "identifiers",
        "trafficking_indicators",
        "payload",
        "body",
        "note",
        "secret",
        "password",
        "token",
        "authorization",
        "webhook_secret",
        "ack_secret",
        "signature",
        "webhook-signature",
        "sasl_password",
        "report",
    }
)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in SENSITIVE_KEYS else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of every sensitive key, however deeply nested."""
    for key in list(event_dict):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def configure_logging(service: str, settings: LoggingSettings | None = None) -> None:
    settings = settings or LoggingSettings()
    level = logging.getLevelName(settings.level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
        structlog.processors.format_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stdout, format="%(name)s %(message)s")
    for noisy in ("aiokafka", "faststream", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
