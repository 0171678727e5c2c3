from pydantic_settings import BaseSettings, SettingsConfigDict


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8090
    acks_url: str = "http://127.0.0.1:8084/v1/acks"
    ack_delay_seconds: float = 1.0
    # e.g. "fbi-new-haven=503,pd-hartford=timeout": failure modes from the start
    failures: str = ""
    # e.g. "pd-hartford,mdt-hartford": agencies that receive but never acknowledge (to exercise escalation)
    never_ack: str = ""
