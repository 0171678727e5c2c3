"""Escalator: durable acknowledgement timers; re-notifies and escalates along the policy's chain."""
