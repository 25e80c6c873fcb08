"""The one measurement path: frames → pose → subject → geometry → neutral → reps → result.

``measure``, ``batch``, ``live`` and the Python API all run it.
"""
