"""Development and test tooling: brokers, databases and the identity provider run locally, the pipeline launcher
and the benchmark. Never shipped: the wheel and the image carry `shared` and `services` only."""
