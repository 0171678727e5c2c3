"""`scripts/dev bench`: what the pipeline costs and carries on this machine, measured beside raw Kafka (B0).

Never a timed test: speed figures are printed and written to test-output/bench/, and only loss or a duplicate
row fails a run.
"""
