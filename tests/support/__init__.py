"""Test tooling shared by the tests and the benchmarks (never installed with the product)."""
