"""Benchmarks that measure what the controller is for, each as a ratio to something measured in
the same run (or as a percentile over many events). `python -m benchmarks` runs them all and
prints one table; see docs/performance.md."""
