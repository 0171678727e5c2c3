"""Kafka consumption that scales on two cores: one consumer per group and process for all its topics, batches
fetched with getmany, records handled concurrently across keys and in order within a key, and offsets committed
only up to the first record whose work is not yet durable."""
