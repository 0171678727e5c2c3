"""/docs and /openapi.json are for developers: production serves neither (they map the attack surface)."""

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from shared.settings import Environment

DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def hide_docs_in_production(app: FastAPI, environment: Environment) -> None:
    if environment != "production":
        return
    app.openapi_url = app.docs_url = app.redoc_url = None
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in DOC_PATHS]


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body itself (to cap it while streaming): the schema is
    documented all the same, inlined (no $defs to merge into the document's components)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}
