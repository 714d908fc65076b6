"""Experiments across runs: compare them, sweep a setting, hand over a one-file HTML report."""
