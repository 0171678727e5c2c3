"""Who may read a service's /metrics: whoever sends `Authorization: Bearer <METRICS_TOKEN>` (Prometheus).

Metrics say how many reports arrived from whom and which agencies are failing: not for anyone who reaches a
port. Fail closed: with no METRICS_TOKEN, /metrics answers 401 unless METRICS_OPEN=true says otherwise, and
that is allowed only with ENVIRONMENT=local or test (the local run and the test suites set it); production
refuses to start without a token of 24 random bytes or more (shared/production_checks.py).
"""

import hmac

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import Environment


class MetricsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    token: SecretStr | None = None  # the bearer token Prometheus sends
    open: bool = False  # no token asked: ENVIRONMENT=local or test only


def metrics_problems(settings: MetricsSettings, environment: Environment) -> list[str]:
    """Production: a token is required and METRICS_OPEN refused (each naming its setting)."""
    from shared.production_checks import weak_secret_problem  # production_checks imports this module

    if environment != "production":
        return []
    problems = []
    if settings.open:
        problems.append("METRICS_OPEN: must not be set in production (metrics need METRICS_TOKEN)")
    if settings.token is None:
        problems.append("METRICS_TOKEN: required in production (the bearer token Prometheus sends for /metrics)")
    else:
        weak = weak_secret_problem("METRICS_TOKEN", settings.token.get_secret_value())
        if weak:
            problems.append(weak)
    return problems


class MetricsAccess:
    """`access.refusal(request)` is None when the caller may read /metrics, else the 401 to answer."""

    def __init__(self, settings: MetricsSettings, environment: Environment) -> None:
        self._token = settings.token.get_secret_value().encode() if settings.token else None
        self._open = settings.open and environment != "production" and self._token is None

    def refusal(self, request: Request) -> JSONResponse | None:
        if self._open:
            return None
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if (
            self._token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(credentials.strip().encode(), self._token)
        ):
            return None
        what = "send 'Authorization: Bearer <METRICS_TOKEN>'"
        if self._token is None:
            what = "set METRICS_TOKEN (and send it as a Bearer token), or METRICS_OPEN=true in a local or test run"
        return JSONResponse(
            {"error": "metrics need authentication", "what_to_do": what},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
