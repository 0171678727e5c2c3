"""Generators of the published contracts under docs/ (AsyncAPI, OpenAPI, the agency webhook)."""

from pathlib import Path

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "docs"
