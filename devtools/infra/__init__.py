"""Local infrastructure runtimes (Kafka broker, PostgreSQL) for the local run, tests and benchmarks."""
