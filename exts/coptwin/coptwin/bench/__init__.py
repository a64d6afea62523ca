"""Benchmarks behind `coptwin bench`: each module measures one thing beside a baseline from the same run."""
