"""A finished measurement and its file forms (docs/RESULTS.md).

The result type and the readers of result files.
"""
