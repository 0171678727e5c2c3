"""The whole pipeline on one machine: topics, schema, every service and the recipient simulator."""

import asyncio
import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher

from devtools.infra.ports import free_ports
from devtools.runner.processes import ServiceProcess
from shared.envelope import new_key
from shared.events import RecipientKind
from shared.store.migrate import upgrade
from shared.topics import ensure_topics


@dataclass
class PipelineConfig:
    bootstrap_servers: str
    database_url: str
    work_dir: Path
    ack_delay_seconds: float = 1.0
    simulator_failures: str = ""
    notifier_retry_schedule: str | None = None  # JSON list of tier seconds; None: each kind's default
    notifier_env: dict[str, str] = field(default_factory=dict)
    environment: str = "local"
    replication_factor: int = 1  # the cluster's (KafkaHandle.replication_factor): 3 on a three-broker cluster
    extra_env: dict[str, str] = field(default_factory=dict)
    ops_username: str = "ops"
    ops_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))  # only its hash reaches ops
    recipient_url: str | None = None  # every agency's webhook goes here instead of the recipient simulator
    notifier_per_kind: bool = False  # one notifier process per recipient kind (as a scaled deployment runs)
    notifier_module: str = "services.notifier"


class Pipeline:
    """Start order: recipient simulator, acks, notifiers, router, escalator, intake, ops; stop in reverse."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.envelope_key = new_key()
        notifiers = [f"notifier-{k.value}" for k in RecipientKind] if config.notifier_per_kind else ["notifier"]
        names = ["recipient-sim", "acks", *notifiers, "router", "escalator", "intake", "ops"]
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.ports = ports
        common = {
            "KAFKA_BOOTSTRAP_SERVERS": config.bootstrap_servers,
            "DATABASE_URL": config.database_url,
            "ENVIRONMENT": config.environment,
            "RECIPIENT_BASE_URL": config.recipient_url or f"http://127.0.0.1:{ports['recipient-sim']}",
            "LOG_FORMAT": "json",
            "ACK_LINK_BASE_URL": f"http://127.0.0.1:{ports['acks']}",
            # Development conveniences, each allowed only in local/test: no intake token, loopback webhooks (the
            # simulator), and a report envelope key made for this run.
            "INTAKE_AUTH": "none",
            "EGRESS_ALLOW_LOOPBACK": "true",
            "METRICS_OPEN": "true",  # /metrics without a token (the local Prometheus, the tests)
            "ENVELOPE_KEYS": json.dumps({"run": self.envelope_key}),
            "ENVELOPE_CURRENT_KEY_ID": "run",
            **config.extra_env,
        }
        log_dir = config.work_dir / "logs"

        def service(name: str, module: str, env: dict[str, str]) -> ServiceProcess:
            return ServiceProcess(name, module, ports[name], {**common, "OTEL_SERVICE_NAME": name, **env}, log_dir)

        self.services: dict[str, ServiceProcess] = {
            "recipient-sim": service(
                "recipient-sim",
                "services.recipient_sim",
                {
                    "SIM_PORT": str(ports["recipient-sim"]),
                    "SIM_ACKS_URL": f"http://127.0.0.1:{ports['acks']}/v1/acks",
                    "SIM_ACK_DELAY_SECONDS": str(config.ack_delay_seconds),
                    "SIM_FAILURES": config.simulator_failures,
                },
            ),
            "acks": service("acks", "services.acks", {"ACKS_PORT": str(ports["acks"])}),
        }
        for name in notifiers:
            kinds = name.removeprefix("notifier-") if config.notifier_per_kind else ",".join(RecipientKind)
            schedule = config.notifier_retry_schedule
            env = {"NOTIFIER_RETRY_SCHEDULE": schedule} if schedule else {}
            env |= {"NOTIFIER_KINDS": kinds, "NOTIFIER_PORT": str(ports[name]), **config.notifier_env}
            self.services[name] = service(name, config.notifier_module, env)
        self.services["router"] = service("router", "services.router", {"ROUTER_PORT": str(ports["router"])})
        self.services["escalator"] = service(
            "escalator", "services.escalator", {"ESCALATOR_PORT": str(ports["escalator"])}
        )
        self.services["intake"] = service(
            "intake",
            "services.intake",
            {
                "INTAKE_PORT": str(ports["intake"]),
                "INTAKE_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['intake']}",
            },
        )
        watched = {name: svc.url for name, svc in self.services.items()}
        self.services["ops"] = service(
            "ops",
            "services.ops",
            {
                "OPS_PORT": str(ports["ops"]),
                "OPS_USERNAME": config.ops_username,
                "OPS_PASSWORD_HASH": PasswordHasher().hash(config.ops_password),
                "OPS_SERVICES": json.dumps(watched),
            },
        )

    @property
    def ops_credentials(self) -> tuple[str, str]:
        """Username and password for the ops dashboard and its API (HTTP Basic)."""
        return self.config.ops_username, self.config.ops_password

    def url(self, name: str) -> str:
        return self.services[name].url

    def prepare(self) -> None:
        """Topics and schema exist before any service starts: nothing relies on auto-creation."""
        asyncio.run(ensure_topics(self.config.bootstrap_servers, self.config.replication_factor))
        upgrade(self.config.database_url)

    def start(self, timeout: float = 90.0, only: Iterable[str] | None = None) -> None:
        """Prepare, then start every service (or the named ones) and wait until each is healthy."""
        self.prepare()
        self.start_services(self.services if only is None else only, timeout)

    def start_services(self, names: Iterable[str], timeout: float = 90.0) -> None:
        chosen = [self.services[name] for name in names if not self.services[name].is_running()]
        for svc in chosen:
            svc.start()
        for svc in chosen:
            svc.wait_healthy(timeout)

    def stop(self) -> None:
        """Every Kafka service shuts down at once (a notifier may take up to a retry tier's delay to finish its
        message), then the recipient simulator, which they may still be delivering to."""
        recipients = [svc for svc in self.services.values() if svc.module == "services.recipient_sim"]
        for wave in ([svc for svc in self.services.values() if svc not in recipients], recipients):
            for svc in wave:
                svc.ask_to_stop()
            for svc in wave:
                svc.wait_stopped()

    def __iter__(self) -> Iterator[ServiceProcess]:
        return iter(self.services.values())
