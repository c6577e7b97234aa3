"""latencylab's benchmark suites: asv's benchmark_dir (suites.py) and the
pytest-benchmark suite (pytest/).  Both are thin: they call the workloads the
labs declare (labs/<lab>.py), the same functions `latencylab run` calls."""
