"""A database outage is the caller's cue to retry, not a server bug: 503 with Retry-After and a clear message.

Without this, an HTTP service whose PostgreSQL is down (restarting, failing over, unreachable) answers 500
with a traceback in its log. `answer_database_outage(app)` turns the errors an unreachable database raises
(connection refused, dropped, timed out, "the database system is starting up") into
`503 {"error": ..., "what_to_do": ...}` with `Retry-After`, logging only the error's type. Errors where the
database refuses the data itself (DataError, IntegrityError, ...) are bugs and stay 500s.
"""

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = 5

# What an unreachable or restarting database raises, wrapped by SQLAlchemy or not (asyncpg's connect raises
# the socket's OSError as it is).
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)


OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})  # connection, resources, shutting down / starting up


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for source in (orig, getattr(orig, "__cause__", None), exc):
        sqlstate = getattr(source, "sqlstate", None) or getattr(source, "pgcode", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            return sqlstate
    return None


def is_database_outage(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    sqlstate = _sqlstate(exc)
    if sqlstate is not None:
        return sqlstate[:2] in OUTAGE_SQLSTATE_CLASSES
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError | InterfaceError):
        return isinstance(exc.orig, OUTAGE_ERRORS)  # e.g. asyncpg's "cannot connect now" wrapped as a DBAPIError
    return isinstance(exc, OUTAGE_ERRORS)


def outage_response(what: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": f"{what}: the database is unavailable",
            "what_to_do": f"send the same request again after {RETRY_AFTER_SECONDS} seconds",
        },
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def answer_database_outage(app: FastAPI, what: str = "request not completed") -> None:
    """Register the 503 answer for every database-outage error a route lets escape."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not is_database_outage(exc):
            raise exc  # a real bug: Starlette's 500 (with its traceback in the log) is right
        route = getattr(request.scope.get("route"), "path", "unknown")  # the template: a raw path may hold a token
        log.warning("database_unavailable", route=route, error_type=type(exc).__name__)
        return outage_response(what)

    kinds: tuple[type[Exception], ...] = (DBAPIError, *OUTAGE_ERRORS)
    for kind in kinds:
        app.add_exception_handler(kind, handle)


# SQLSTATE classes where PostgreSQL refuses the statement or its data: retrying cannot help (poison, not forever).
# Not here, so transient: 08 connection, 40 rollback (serialization, deadlock), 53 resources, 57 shutdown/starting.
REFUSING_SQLSTATE_CLASSES = frozenset({"0A", "21", "22", "23", "2B", "42", "44"})


def refused_by_database(exc: BaseException) -> bool:
    """The database refused the data or the statement itself. asyncpg surfaces e.g. "value too long" as a plain
    DBAPIError, not DataError, so the SQLSTATE decides (sqlalchemy's wrapper and asyncpg's error both carry it)."""
    sqlstate = _sqlstate(exc)
    return sqlstate is not None and sqlstate[:2] in REFUSING_SQLSTATE_CLASSES
