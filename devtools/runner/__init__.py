"""Runs the pipeline's services as real processes: for the local run, the tests and the benchmarks."""
