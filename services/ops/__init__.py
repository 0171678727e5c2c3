"""Ops: where the people on call see the whole flow."""
