"""Creates the durable timers for every recipient of a routing decision (idempotent on replay)."""

from collections.abc import Callable
from datetime import datetime

import structlog
from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.escalator.chain import plan_timers
from shared.consuming import PoisonMessage, parse_event
from shared.events import RoutingDecisionRecorded
from shared.policy.model import Policy
from shared.store.escalations import TimerScheduling, TimersFor, UnknownNotifications

log = structlog.get_logger(__name__)


class TimerScheduler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: Policy,
        seconds_per_policy_minute: float,
        on_scheduled: Callable[[datetime], None] | None = None,
    ) -> None:
        self._on_scheduled = on_scheduled
        self._timers = TimerScheduling(sessions)
        self._policy = policy
        self._seconds_per_policy_minute = seconds_per_policy_minute

    async def __call__(self, record: ConsumerRecord[bytes, bytes]) -> None:
        decision = parse_event(RoutingDecisionRecorded, (record.value or b""))
        rows = [
            row
            for r in decision.recipients
            for row in plan_timers(
                r, self._policy.recipient_kinds[r.recipient_kind], decision.decided_at, self._seconds_per_policy_minute
            )
        ]
        try:
            added = await self._timers.schedule(TimersFor(rows, [r.notification_id for r in decision.recipients]))
        except UnknownNotifications as exc:
            # The router commits its rows before it publishes the decision, so this is never a race:
            # the decision belongs to another store; retrying would block the partition forever.
            raise PoisonMessage("unknown_notification", str(exc)) from exc
        if added and self._on_scheduled is not None:
            self._on_scheduled(min(row["due_at"] for row in rows))
        log.info("escalation_timers_scheduled", report_id=decision.report_id, timers=added)
