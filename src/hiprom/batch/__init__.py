"""Batch scoring of folders of footage.

Inputs, engines (process pool, Dask), the resumable store and the summary exports.
"""
