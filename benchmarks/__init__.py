"""Reproducible benchmarks, run by `make bench` (`python -m benchmarks`)."""
