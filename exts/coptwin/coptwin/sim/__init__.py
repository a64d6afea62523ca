"""Sensor simulator: realistic readings appended to Delta tables (demo, tests, benchmarks)."""
