"""The bundled pose model (``pose_landmarker_full.task``); see README.md in this folder."""
