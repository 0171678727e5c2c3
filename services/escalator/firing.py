"""Fires due timers: at-least-once publication, made harmless by deterministic ids and dedupe keys.

Per timer, in one locking transaction: claim the row (FOR UPDATE SKIP LOCKED); if the notification was
acknowledged meanwhile, cancel it; otherwise commit the escalation notification's row and audit record
(a separate, already committed transaction, so the notifier finds the row), publish the notification and
the escalation event (acks=all), and only then set fired_at. A crash before fired_at commits leaves the
timer due, so the step fires again with the same ids (never lost); after it commits the step is done
(never fired twice). A chain target the directory does not know (a timer from an older policy) is never
guessed: the step is recorded as `escalation_target_unknown` for ops and the timers after it go on.
"""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.escalator.chain import escalation_notification_id
from shared.acklinks import AckLinkSettings, link_for
from shared.directory.directory import Directory
from shared.directory.targets import Target, UnknownTarget, resolve_target
from shared.events import EscalationAction, EscalationRecorded, Notification, RecipientKind
from shared.publishing import publish_event, publish_notification
from shared.states import NotificationState
from shared.store.acknowledging import deadline_key
from shared.store.audit_trail import AuditEntry, add_audit
from shared.store.escalations import claim_due_timer, next_due_at, record_escalation_notification
from shared.store.models import EscalationTimerRecord, NotificationRecord
from shared.topics import ESCALATIONS

log = structlog.get_logger(__name__)


class TimerFirer:
    def __init__(
        self,
        broker: KafkaBroker,
        sessions: async_sessionmaker[AsyncSession],
        policy_version: str,
        directory: Directory,
        links: AckLinkSettings | None = None,
    ) -> None:
        self._broker = broker
        self._sessions = sessions
        self._policy_version = policy_version
        self._directory = directory
        self._links = links or AckLinkSettings()
        self._wake = asyncio.Event()
        self._next_look: datetime | None = None  # when the loop will look again by itself (None: it is looking)

    def nudge(self, due_at: datetime | None = None) -> None:
        """New timers were scheduled in this process: look again now, unless the loop already means to look
        before the soonest of them is due (under load every routing decision nudges; most change nothing)."""
        if due_at is None or self._next_look is None or due_at < self._next_look:
            self._wake.set()

    async def run(self, max_sleep_seconds: float, ready: "asyncio.Event") -> None:
        """Fire what is due, then sleep until the soonest timer is due (at most `max_sleep_seconds`, for timers
        that other instances schedule), or until nudged. A failure is logged and retried after a short pause (the
        timer stays due)."""
        await ready.wait()
        while True:
            sleep = max_sleep_seconds
            try:
                while await self.fire_one():
                    pass
                async with self._sessions() as session:
                    due = await next_due_at(session)
                if due is not None:
                    sleep = min(max_sleep_seconds, max(0.0, (due - datetime.now(UTC)).total_seconds()))
            except Exception as exc:
                log.error("escalation_fire_failed", error_type=type(exc).__name__)  # type only: text may hold data
                sleep = min(max_sleep_seconds, 1.0)
            self._wake.clear()
            self._next_look = datetime.now(UTC) + timedelta(seconds=sleep)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=sleep + 0.01)
            self._next_look = None

    async def fire_one(self, now: datetime | None = None) -> bool:
        """Handle the oldest due timer; False when none is due."""
        now = now or datetime.now(UTC)
        async with self._sessions.begin() as session:
            timer = await claim_due_timer(session, now)
            if timer is None:
                return False
            original = await session.get(NotificationRecord, timer.notification_id)
            assert original is not None, "timers reference notifications (foreign key)"
            if original.acknowledged_at is not None:
                timer.cancelled_at = now
                return True
            if timer.action == EscalationAction.DEADLINE_MISSED:
                await self._deadline_missed(session, timer, original, now)
            else:
                try:
                    target = self._target(timer, original, now)
                except UnknownTarget as exc:
                    await self._unresolved(session, timer, original, now, exc)
                else:
                    await self._escalate(timer, original, target, now)
            timer.fired_at = now
            return True

    def _target(self, timer: EscalationTimerRecord, original: NotificationRecord, now: datetime) -> Target:
        """Re-notify: the agency itself, as routed. Escalate: the chain's target, exactly as the directory knows it."""
        if timer.action == EscalationAction.RENOTIFY:
            return Target(original.agency_id, original.agency_name, RecipientKind(original.recipient_kind))
        # plan_timers gives every escalate row its target; a row without one resolves to nothing.
        return resolve_target(timer.target_agency_id or "", self._directory, now.date())

    async def _unresolved(
        self,
        session: AsyncSession,
        timer: EscalationTimerRecord,
        original: NotificationRecord,
        now: datetime,
        error: UnknownTarget,
    ) -> None:
        """A timer written under an older policy or directory: recorded for ops, never sent to a guessed agency.

        The step counts as fired, so it does not hold up the timers due after it.
        """
        detail = f"step {timer.step}: {error}"
        await add_audit(session, _audit(original, now, "escalation_target_unknown", _step_key(original, timer), detail))
        log.error(
            "escalation_target_unknown",
            notification_id=original.notification_id,
            step=timer.step,
            target_agency_id=error.agency_id,
        )

    async def _deadline_missed(
        self, session: AsyncSession, timer: EscalationTimerRecord, original: NotificationRecord, now: datetime
    ) -> None:
        detail = f"no acknowledgement by the deadline {original.deadline_at.isoformat()}"
        await add_audit(
            session, _audit(original, now, "deadline_missed", deadline_key(original.notification_id), detail)
        )
        await self._publish_event(timer, original, now, None)
        log.warning("deadline_missed", notification_id=original.notification_id, agency_id=original.agency_id)

    async def _escalate(
        self, timer: EscalationTimerRecord, original: NotificationRecord, target: Target, now: datetime
    ) -> None:
        esc_id = escalation_notification_id(original.notification_id, timer.step, target.agency_id)
        renotify = timer.action == EscalationAction.RENOTIFY
        waited = int((timer.due_at - original.created_at).total_seconds())
        reason = (
            f"escalation step {timer.step} ({timer.action}): {original.recipient_kind} notification "
            f"{original.notification_id} to {original.agency_id} not acknowledged after {waited}s"
        )[:300]
        await record_escalation_notification(
            self._sessions,
            {
                "notification_id": esc_id,
                "report_id": original.report_id,
                "recipient_kind": target.kind.value,
                "agency_id": target.agency_id,
                "agency_name": target.name,
                "reason": reason,
                "fallback": False,
                "state": NotificationState.PENDING,
                "created_at": now,
                "deadline_at": original.deadline_at,
                "attempts": 0,
            },
            _audit(
                original,
                now,
                "renotified" if renotify else "escalated",
                _step_key(original, timer),
                f"step {timer.step} due {timer.due_at.isoformat()}; sent as {esc_id}",
                agency_id=target.agency_id,
            ),
        )
        notification = Notification(
            notification_id=esc_id,
            report_id=original.report_id,
            recipient_kind=target.kind,
            agency_id=target.agency_id,
            agency_name=target.name,
            reason=reason,
            deadline_at=original.deadline_at,
            policy_version=self._policy_version,
            created_at=now,
            payload=self._payload(original, timer, renotify),
            ack_url=link_for(self._links, esc_id, target.agency_id, original.deadline_at),
        )
        await publish_notification(self._broker, notification)
        await self._publish_event(timer, original, now, esc_id)
        log.info(
            "escalation_fired",
            notification_id=original.notification_id,
            step=timer.step,
            action=timer.action,
            target_agency_id=target.agency_id,
        )

    def _payload(self, original: NotificationRecord, timer: EscalationTimerRecord, renotify: bool) -> dict[str, Any]:
        """Ids and times only: the escalator never carries report content (minimum necessary)."""
        payload: dict[str, Any] = {
            "careline_report_id": original.report_id,
            "unacknowledged_notification_id": original.notification_id,
            "unacknowledged_agency_id": original.agency_id,
            "recipient_kind": original.recipient_kind,
            "sent_at": original.created_at.isoformat(),
            "deadline_at": original.deadline_at.isoformat(),
            "escalation_step": timer.step,
        }
        if renotify:
            payload["acknowledge_original_url"] = link_for(
                self._links, original.notification_id, original.agency_id, original.deadline_at
            )
        return payload

    async def _publish_event(
        self, timer: EscalationTimerRecord, original: NotificationRecord, now: datetime, esc_id: str | None
    ) -> None:
        event = EscalationRecorded(
            notification_id=original.notification_id,
            report_id=original.report_id,
            agency_id=original.agency_id,
            step=timer.step,
            action=EscalationAction(timer.action),
            target_agency_id=timer.target_agency_id,
            escalation_notification_id=esc_id,
            due_at=timer.due_at,
            fired_at=now,
            deadline_at=original.deadline_at,
        )
        await publish_event(self._broker, event, ESCALATIONS, original.report_id)


def _audit(
    original: NotificationRecord,
    now: datetime,
    event: str,
    dedupe_key: str,
    detail: str,
    agency_id: str | None = None,
) -> AuditEntry:
    """The escalator's audit record about one original notification (the agency reached, if not its own)."""
    return AuditEntry(
        occurred_at=now,
        event=event,
        actor="escalator",
        dedupe_key=dedupe_key,
        report_id=original.report_id,
        notification_id=original.notification_id,
        agency_id=agency_id or original.agency_id,
        detail=detail,
    )


def _step_key(original: NotificationRecord, timer: EscalationTimerRecord) -> str:
    """One audit record per step, however often it fires."""
    return f"escalation:{original.notification_id}:{timer.step}"
