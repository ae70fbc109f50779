"""Demo data for FraudCase: realistic flagged transactions and the files the inbox expects.

Pure Python and numpy (no Django), so scripts, tests and benchmarks can use it anywhere.
"""
