"""scripts/check_deploy passes (helm lint, helm template with both values files, kubeconform -strict, Strimzi's
model), and the KafkaTopics it rendered are shared.topics.topic_specs() exactly. The first run installs helm and
kubeconform through the Go module proxy into .cache/ (minutes); later runs take seconds."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.settings import REPO_ROOT
from shared.topics import topic_specs
from tests.conftest import IN_CI

MISSING_TOOL = 3


@pytest.fixture(scope="module")
def rendered() -> dict[str, Path]:
    done = subprocess.run(
        [str(REPO_ROOT / "scripts" / "check_deploy")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ},
    )
    if done.returncode == MISSING_TOOL and not IN_CI:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, f"check_deploy exited {done.returncode}:\n{done.stdout[-6000:]}\n{done.stderr[-4000:]}"
    print(done.stdout[done.stdout.find("== kubeconform") :])
    cache = Path(os.environ.get("CHECK_DEPLOY_CACHE", REPO_ROOT / ".cache")) / "deploy"
    return {values: cache / f"rendered-{values}.yaml" for values in ("default", "production")}


@pytest.mark.parametrize("values", ["default", "production"])
def test_rendered_kafka_topics_are_the_codes_topics(rendered: dict[str, Path], values: str) -> None:
    docs = [d for d in yaml.safe_load_all(rendered[values].read_text()) if d and d["kind"] == "KafkaTopic"]
    in_chart = {
        d["spec"]["topicName"]: (d["spec"]["partitions"], d["spec"]["replicas"], d["spec"]["config"]) for d in docs
    }
    in_code = {s.name: (s.partitions, 3, s.configs) for s in topic_specs(3)}
    assert in_chart == in_code


def test_every_service_deployment_runs_read_only_and_non_root(rendered: dict[str, Path]) -> None:
    docs = [
        d for d in yaml.safe_load_all(rendered["production"].read_text()) if d and d["kind"] in ("Deployment", "Job")
    ]
    assert len(docs) == 12  # intake, router, six notifiers, acks, escalator, ops; the migration Job
    for doc in docs:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert all(
                "value" not in e or ("SECRET" not in e["name"] and "PASSWORD" not in e["name"])
                for e in container["env"]
            )
