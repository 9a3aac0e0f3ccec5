"""On-demand benchmarks (`make bench`); never run in CI."""
