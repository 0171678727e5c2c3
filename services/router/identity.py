"""Keyed digests (HMAC-SHA256) that let the router match reports and diff versions without keeping personal data.

A report matches an earlier one by the same child (normalised first and last name + birth date) or by a shared
alleged-trafficker identifier or online handle. Only the digests are stored; without the key they cannot be
tested against guesses, so the key must be secret in production (ROUTER_LINK_KEY).
"""

import hashlib
import hmac
import json
import re
import unicodedata
from typing import Any

from shared.events import CarelineReport
from shared.policy.model import NEVER_SENT

CHILD = "child"
SUSPECT = "suspect"


def _letters(text: str) -> str:
    """Accents, case, spacing and punctuation do not matter: "José  O'Neil" == "jose oneil"."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", plain.casefold())


def _identifier(text: str) -> str:
    """Handles and phone numbers: case, spaces, a leading @ and separators do not matter."""
    return re.sub(r"[\s().\-]+", "", text.strip().casefold()).lstrip("@")


def _digest(key: bytes, purpose: str, value: str) -> str:
    return hmac.new(key, f"{purpose}\x1f{value}".encode(), hashlib.sha256).hexdigest()


def match_keys(report: CarelineReport, key: bytes) -> dict[str, str]:
    """{digest: kind} for the child and each non-empty alleged-trafficker identifier."""
    child = report.child
    person = f"{_letters(child.first_name)}|{_letters(child.last_name)}|{child.date_of_birth.isoformat()}"
    keys = {_digest(key, CHILD, person): CHILD}
    for trafficker in report.alleged_traffickers:
        for identifier in trafficker.identifiers:
            if value := _identifier(identifier):
                keys[_digest(key, SUSPECT, value)] = SUSPECT
    return keys


def field_digests(report: CarelineReport, key: bytes) -> dict[str, str]:
    """One digest per field path (report fields and child.*), never for the reporter or the narrative.

    The received time is left out: a correction is received later, but the report (and its clocks) is the original.
    """
    data: dict[str, Any] = report.model_dump(mode="json")
    child = data.pop("child")
    left_out = NEVER_SENT | {"report_version", "schema_version", "received_at"}
    values = {k: v for k, v in data.items() if k not in left_out}
    values |= {f"child.{k}": v for k, v in child.items()}
    return {path: _digest(key, "field:" + path, json.dumps(v, sort_keys=True)) for path, v in values.items()}


def changed_fields(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
