"""The routing policy: who gets which report, which fields, which clock and escalation chain. Shared knowledge
of the router (which applies it) and the escalator (which enforces its clocks)."""
