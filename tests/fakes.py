"""Stand-ins several unit and security tests share (one definition each)."""

from typing import Any

from shared.events import Notification, RoutingDecisionRecorded


class CountingBroker:
    """A FastStream broker for an app under TestClient: starts, stops, and counts what it was asked to publish."""

    def __init__(self) -> None:
        self.published = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, *_: Any, **__: Any) -> None:
        self.published += 1

    def subscriber(self, *_: Any, **__: Any) -> Any:
        return lambda fn: fn


class RecordingPublisher:
    """The router's publisher: keeps every notification and routing decision it is given."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self.decisions: list[RoutingDecisionRecorded] = []

    async def notification(self, notification: Notification) -> None:
        self.notifications.append(notification)

    async def decision(self, event: RoutingDecisionRecorded) -> None:
        self.decisions.append(event)

    def take(self) -> list[Notification]:
        sent, self.notifications = self.notifications, []
        return sent
