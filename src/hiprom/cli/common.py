"""Options and words the commands share (no command imports another command's module)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["NOT_SAVED", "PERSON_ENV", "PersonOption"]

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
