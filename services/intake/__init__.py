"""Intake: accepts Careline reports over HTTP (or from Kafka) and makes them durable in Kafka."""
