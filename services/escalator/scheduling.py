"""Creates the durable timers for every recipient of a routing decision (idempotent on replay)."""

from collections.abc import Callable

import structlog
from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.escalator.chain import plan_timers
from shared.consuming import PoisonMessage, parse_event
from shared.events import RoutingDecisionRecorded
from shared.policy.model import Policy
from shared.store.escalations import known_notifications, schedule_timers

log = structlog.get_logger(__name__)


class TimerScheduler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: Policy,
        seconds_per_policy_minute: float,
        on_scheduled: Callable[[], None] | None = None,
    ) -> None:
        self._on_scheduled = on_scheduled
        self._sessions = sessions
        self._policy = policy
        self._seconds_per_policy_minute = seconds_per_policy_minute

    async def __call__(self, record: ConsumerRecord[bytes, bytes]) -> None:
        decision = parse_event(RoutingDecisionRecorded, (record.value or b""))
        ids = [r.notification_id for r in decision.recipients]
        if missing := sorted(set(ids) - await known_notifications(self._sessions, ids)):
            # The router commits its rows before it publishes the decision, so this is never a race:
            # the decision belongs to another store; retrying would block the partition forever.
            raise PoisonMessage("unknown_notification", f"{len(missing)} notification(s) not in the store")
        rows = [
            row
            for r in decision.recipients
            for row in plan_timers(
                r, self._policy.recipient_kinds[r.recipient_kind], decision.decided_at, self._seconds_per_policy_minute
            )
        ]
        added = await schedule_timers(self._sessions, rows)
        if added and self._on_scheduled is not None:
            self._on_scheduled()
        log.info("escalation_timers_scheduled", report_id=decision.report_id, timers=added)
