"""Bad requests get a 4xx that names the problem and never echoes personal data back."""

from fastapi.testclient import TestClient

from devtools.runner.samples import sample_report
from services.intake.app import create_app
from services.intake.settings import IntakeSettings

client = TestClient(create_app(IntakeSettings(consume_inbound_topic=False)))  # no lifespan: no Kafka needed


def test_missing_field_is_named() -> None:
    report = sample_report("CL-VAL-0001", "Hartford")
    del report["residence_town"]
    response = client.post("/v1/reports", json=report)
    assert response.status_code == 422
    assert {"field": "residence_town", "problem": "Field required"} in response.json()["problems"]


def test_invalid_values_are_not_echoed() -> None:
    report = sample_report("CL-VAL-0002", "Hartford")
    report["child"]["date_of_birth"] = "Avery's birthday"
    response = client.post("/v1/reports", json=report)
    assert response.status_code == 422
    assert "Avery" not in response.text
    assert response.json()["problems"][0]["field"] == "child.date_of_birth"


def test_not_json_is_a_422() -> None:
    response = client.post("/v1/reports", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_oversized_body_is_a_413() -> None:
    response = client.post("/v1/reports", content=b"x" * (300 * 1024))
    assert response.status_code == 413


def test_valid_report_without_kafka_is_a_503_never_a_202() -> None:
    response = client.post("/v1/reports", json=sample_report("CL-VAL-0003", "Hartford"))
    assert response.status_code == 503
    assert response.headers["retry-after"]
