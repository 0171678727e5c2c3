"""Router: turns each report into one notification per recipient agency, on per-recipient topics."""
