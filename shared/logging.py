"""structlog set-up: JSON in production, readable locally, and only allow-listed fields ever printed.

Redaction is an allow-list: a log field keeps its value only when its name is one of ALLOWED_KEYS (ids,
counts, codes); every other value is replaced, however deeply nested, so a new field with personal data
cannot leak by being forgotten in a deny-list. `error`, `problem` and `reason` keep only code-like values
(`invalid_grant`, `schema_invalid`), never free text such as str(exc). Messages, also those of stdlib and
uvicorn records, are scrubbed: quoted values, SQL parameters and pydantic's `input_value=` are removed.
Exceptions are printed as their type and stack (file, line, function), never their message, which may quote
the input. Stdlib and uvicorn records pass through the
same processors (uvicorn's own log config is pointed at the root handler).
"""

import logging
import re
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import Any

import structlog

from shared.settings import LoggingSettings

REDACTED = "[REDACTED]"
MAX_TEXT = 300

# Ids, counts, codes and log plumbing: the only values that reach the output.
ALLOWED_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "service",
        "logger",
        "exception",
        "report_id",
        "notification_id",
        "agency_id",
        "target_agency_id",
        "recipient_kind",
        "kind",
        "topic",
        "partition",
        "offset",
        "error_type",
        "outcome",
        "status",
        "status_code",
        "attempt",
        "attempts",
        "channel",
        "client_id",
        "scope",
        "step",
        "action",
        "timers",
        "notifications",
        "fallbacks",
        "replacements",
        "retries",
        "retry_in_seconds",
        "transient",
        "policy_version",
        "trace_id",
        "span_id",
        "route",  # a route template (/v1/acks/link/{token}), never the raw path
        "user",  # an ops login name (the audit actor), never a report's subject
        "error",
        "problem",
        "reason",
    }
)
# Messages: scrubbed, then cut short. (`exception` is built here from type and stack only.)
TEXT_KEYS = frozenset({"event", "exception"})
# Allowed only as codes (e.g. an OAuth error "invalid_grant"): any other text, e.g. str(exc), is replaced.
CODE_KEYS = frozenset({"error", "problem", "reason"})
_CODE = re.compile(r"^[a-z0-9_.:-]{1,80}$")

_SCRUBBERS = (
    (re.compile(r"\[SQL:.*", re.DOTALL), "[SQL redacted]"),  # SQLAlchemy appends the statement and parameters
    (re.compile(r"\[parameters:.*?\]", re.DOTALL), "[parameters redacted]"),
    (re.compile(r"input_value=.*?(?=, input_type|\]|$)", re.DOTALL), "input_value=[REDACTED]"),  # pydantic
    (re.compile(r"'(?:[^'\\]|\\.){1,}'"), "'[REDACTED]'"),
    (re.compile(r'"(?:[^"\\]|\\.){1,}"'), '"[REDACTED]"'),
)


def scrub_text(text: str) -> str:
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def _allowed_value(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: (_allowed_value(str(k), v) if str(k) in ALLOWED_KEYS else REDACTED) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_allowed_value(key, v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    if key in CODE_KEYS:
        return text if _CODE.match(text) else f"[REDACTED text, {len(text)} chars: log a code instead]"
    return scrub_text(text) if key in TEXT_KEYS else text[:MAX_TEXT]


def redact_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Keep allow-listed fields (scrubbing free text), replace every other value."""
    for key in list(event_dict):
        if key.startswith("_"):  # structlog's own plumbing (e.g. _record, _from_structlog)
            continue
        event_dict[key] = _allowed_value(key, event_dict[key]) if key in ALLOWED_KEYS else REDACTED
    return event_dict


def _exception_text(exc_info: Any) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or exc_info[0] is None:
        return None
    exc_type: type[BaseException] = exc_info[0]
    tb: TracebackType | None = exc_info[2]
    frames = [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)[-8:]]
    return f"{exc_type.__module__}.{exc_type.__qualname__} (message not logged) at " + " <- ".join(reversed(frames))


def safe_exception(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Exceptions as type and stack only: their messages may quote personal input."""
    exc_info = event_dict.pop("exc_info", None)
    rendered = _exception_text(exc_info) if exc_info else None
    if rendered:
        event_dict["exception"] = rendered
    event_dict.pop("stack", None)
    return event_dict


def _foreign_message(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A stdlib/uvicorn record's formatted message: scrubbed like any free text."""
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord) and record.exc_info and "exc_info" not in event_dict:
        event_dict["exc_info"] = record.exc_info
    return event_dict


def _route_uvicorn_through_root() -> None:
    """uvicorn.run applies uvicorn.config.LOGGING_CONFIG (its default argument, this very dict) at start-up;
    pointing its loggers at the root handler keeps its records (e.g. 'Exception in ASGI application' with the
    traceback) inside the allow-list."""
    from uvicorn.config import LOGGING_CONFIG

    LOGGING_CONFIG["handlers"] = {}
    LOGGING_CONFIG["loggers"] = {
        name: {"level": "INFO", "handlers": [], "propagate": True}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }


class _Stdout:
    """Whatever sys.stdout is at the time of writing (tests swap it; a service never does)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def configure_logging(service: str, settings: LoggingSettings | None = None) -> None:
    settings = settings or LoggingSettings()
    level = logging.getLevelName(settings.level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared_chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared_chain, safe_exception, redact_personal_data, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_Stdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(_Stdout())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared_chain, structlog.stdlib.add_logger_name, _foreign_message],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                safe_exception,
                redact_personal_data,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(level, logging.WARNING))
    for noisy in ("aiokafka", "faststream", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _route_uvicorn_through_root()
