"""Compliance commands over the audit trail: the compliance report, the timeline CSV export, the retention purge."""
