"""Options and words the commands share (no command imports another command's module)."""

from __future__ import annotations

from typing import Annotated

import typer

from hiprom.backends.base import PoseModel
from hiprom.pipeline.analysis import TestedSide

__all__ = ["NOT_SAVED", "PERSON_ENV", "ModelOption", "PersonOption", "SideOption"]

#: The environment variable that names the person when ``--person`` is not given.
PERSON_ENV = "HIPROM_PERSON"
#: ``--person`` for the commands that save a test: a test is saved only when a person is named.
PersonOption = Annotated[str | None, typer.Option(
    "--person", envvar=PERSON_ENV, show_envvar=True,
    help="Save the test into this person's progress history (hiprom history); without a "
         "name nothing is saved.")]
#: Printed once when a test was measured but not saved.
NOT_SAVED = ("not saved to a history: pass --person NAME (or set HIPROM_PERSON) to track "
             "progress over weeks")
#: ``--model`` for the commands that measure files.
ModelOption = Annotated[PoseModel, typer.Option(
    help="Pose network: full (default), heavy (more accurate, about 3x slower) or lite "
         "(fastest, least accurate).")]
#: ``--side`` for the commands that measure files.
SideOption = Annotated[TestedSide, typer.Option(
    help="Which leg was tested: auto (a leg that never moves, or rests vertical in a photo, "
         "is not scored), left, right, or both.")]
