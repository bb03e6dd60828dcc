"""Synthetic data and helpers for tests and benchmarks."""
