"""Benchmarks behind `coptwin bench`.

Each module measures one thing beside a baseline from the same run.
"""
