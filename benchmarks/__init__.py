"""The benchmark harness: filterbank's speed measured side by side with PyTorch.

Run ``python benchmarks/run.py`` (or ``make bench``); see BENCHMARKS.md.
"""
