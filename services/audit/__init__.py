"""Audit commands: timeline CSV export, compliance report, retention purge."""
