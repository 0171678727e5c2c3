"""The notifier with the fault suite's hook: with probability CRASH_AFTER_DELIVERY_PROBABILITY an FBI
notification's 2xx is followed by the death of the process, before the delivery is recorded. The hook is set here,
in the test harness; product code only offers the seam (NotificationDeliverer.before_recording)."""

import os
import random

import structlog

from services.notifier.app import main
from services.notifier.handler import NotificationDeliverer
from shared.events import Notification, RecipientKind

CHANCE = float(os.environ.get("CRASH_AFTER_DELIVERY_PROBABILITY", "0"))


async def crash_sometimes(notification: Notification) -> None:
    if notification.recipient_kind is RecipientKind.FBI and random.random() < CHANCE:
        structlog.get_logger(__name__).warning("fault_hook_crash_after_delivery")
        os._exit(137)


if __name__ == "__main__":
    NotificationDeliverer.before_recording = crash_sometimes
    main()
