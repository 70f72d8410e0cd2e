"""Benchmarks for SPEC §12, run by `make bench` (python -m bench); results in bench/RESULTS.md."""
