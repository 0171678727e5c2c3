"""OpenAPI documents of intake and acks (docs/openapi/*.json), generated from the FastAPI apps themselves.

Both endpoints read the raw body (to cap its size and verify signatures over the exact bytes), so FastAPI
cannot see the body model; the generator adds it from the same pydantic model the handler validates with
(CarelineReport, AckRequest), and the Standard Webhooks headers the acks service verifies.
"""

import os
from typing import Any

from fastapi import FastAPI

from shared.events import AckRequest, CarelineReport

Json = dict[str, Any]
_SIGNED_HEADERS = [
    {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Unique per acknowledgement; a reused id is refused with 409."},
    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Unix seconds; more than 5 minutes off is refused."},
    {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "v1,<base64 HMAC-SHA256 of id.timestamp.body> with the agency's ack secret (docs/webhooks.md)."},
]  # fmt: skip


def _with_body(doc: Json, path: str, model: type[Any], responses: dict[str, str]) -> Json:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    operation = doc["paths"][path]["post"]
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }
    for status, description in responses.items():
        operation.setdefault("responses", {}).setdefault(status, {"description": description})
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    return doc


def _app_openapi(app: FastAPI) -> Json:
    return app.openapi()


def intake_document() -> Json:
    from services.intake.app import create_app

    doc = _app_openapi(create_app())
    return _with_body(
        doc,
        "/v1/reports",
        CarelineReport,
        {
            "202": "Accepted: Kafka has the report on every in-sync replica",
            "413": "Body too large",
            "422": "Invalid report: `problems` names each field",
            "503": "Kafka did not acknowledge: nothing was accepted, retry after Retry-After",
        },
    )


def acks_document() -> Json:
    os.environ.setdefault("ENVIRONMENT", "local")
    from services.acks.app import create_app

    doc = _with_body(
        _app_openapi(create_app()),
        "/v1/acks",
        AckRequest,
        {
            "200": "Recorded, or already acknowledged (`status`)",
            "401": "Signature not valid for the agency's ack secrets",
            "403": "The notification was sent to another agency",
            "404": "Unknown notification_id",
            "409": "webhook-id already used (replay)",
            "413": "Body too large",
            "422": "Invalid acknowledgement",
            "503": "Kafka unavailable: not recorded, retry",
        },
    )
    doc["paths"]["/v1/acks"]["post"]["parameters"] = _SIGNED_HEADERS
    return doc
