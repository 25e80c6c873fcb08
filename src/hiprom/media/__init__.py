"""Frames in and files out.

Video/image/camera sources, atomic sinks, the annotated overlay, face obscuring and the
measurement's output files.
"""
