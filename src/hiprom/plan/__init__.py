"""Interpretation, pure and data-driven.

Norm bands and verdicts, asymmetry, red flags, the exercise catalogue, its references, and the
routine.
"""
