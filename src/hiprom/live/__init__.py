"""The live guided self-test.

The guide's state machine, the capture/model worker, the window and the saved session.
"""
