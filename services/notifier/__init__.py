"""Notifier: one code base, one consumer group per recipient topic; delivers signed webhooks."""
