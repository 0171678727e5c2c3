"""Tables. Unique keys make every write idempotent, so a replayed Kafka message changes nothing."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Always timezone-aware UTC, also on SQLite, which stores datetimes without a zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use timezone-aware UTC")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class ReportRecord(Base):
    __tablename__ = "reports"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime]
    accepted_at: Mapped[datetime]
    content_sha256: Mapped[str] = mapped_column(String(64))
    classification: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[str] = mapped_column(String(64))
    notification_count: Mapped[int] = mapped_column(Integer)
    first_routed_at: Mapped[datetime]
    routed_at: Mapped[datetime | None] = mapped_column(default=None)
    duplicates_received: Mapped[int] = mapped_column(Integer, default=0)


class NotificationRecord(Base):
    __tablename__ = "notifications"

    notification_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.report_id"), index=True)
    recipient_kind: Mapped[str] = mapped_column(String(16))
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    agency_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(300))
    fallback: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_notifications_state", "state"),)


class DeliveryAttemptRecord(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.notification_id"), index=True)
    attempt_no: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(300), default=None)

    __table_args__ = (UniqueConstraint("notification_id", "attempt_no", name="uq_attempt_per_notification"),)


class AcknowledgementRecord(Base):
    __tablename__ = "acknowledgements"

    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.notification_id"), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    acknowledged_by: Mapped[str] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    webhook_id: Mapped[str] = mapped_column(String(120), unique=True)
    acknowledged_at: Mapped[datetime]


class EndpointStatusRecord(Base):
    """An endpoint that answered 410 Gone is disabled until ops re-enables it."""

    __tablename__ = "endpoint_status"

    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    disabled: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    changed_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(120))


class AuditEventRecord(Base):
    """One immutable step in a report's story: ids, times and short non-personal details only."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))
    report_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    notification_id: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    agency_id: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[str | None] = mapped_column(String(500), default=None)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), default=None, unique=True)


class EscalationTimerRecord(Base):
    """A durable timer: fires once (fired_at set in the same transaction that records the escalation)."""

    __tablename__ = "escalation_timers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.notification_id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    target_agency_id: Mapped[str | None] = mapped_column(String(64), default=None)
    due_at: Mapped[datetime] = mapped_column(index=True)
    fired_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (UniqueConstraint("notification_id", "step", name="uq_timer_step"),)


def table_of(model: type[Base]) -> Table:
    """A mapped class's Core table: hot paths run cached Core statements, not the ORM's per-call machinery."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
