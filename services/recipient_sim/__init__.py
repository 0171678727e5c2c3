"""A stand-in for every recipient agency, for local runs and tests.

Verifies each webhook's signature with the agency's secret, records what it received, and
acknowledges after a configurable delay; it can be told to fail on purpose.
"""
