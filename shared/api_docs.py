"""/docs and /openapi.json are for developers: production serves neither (they map the attack surface)."""

from fastapi import FastAPI

from shared.settings import Environment

DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def hide_docs_in_production(app: FastAPI, environment: Environment) -> None:
    if environment != "production":
        return
    app.openapi_url = app.docs_url = app.redoc_url = None
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in DOC_PATHS]
