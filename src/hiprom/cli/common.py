"""Options and words the commands share (no command imports another command's module)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from hiprom.backends.base import PoseModel
from hiprom.errors import InputError, describe_os_error, is_utf8_path, printable
from hiprom.pipeline.analysis import MeasureOptions, TestedSide

__all__ = ["BLUR_FACES_DEFAULT", "FAST_RETIRED", "INTERRUPTED", "NOT_SAVED", "PERSON_ENV",
           "ModelOption", "PersonOption", "ShowFacesOption", "SideOption", "check_out_dir",
           "sampling_options"]

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
#: What ``measure`` and ``batch`` print on Ctrl-C (SIGINT); they exit with 130 (128 + 2).
INTERRUPTED = "interrupted; nothing partial was kept — run the same command again to finish"
#: Printed when the retired ``--fast`` flag is given (it is accepted and does nothing).
FAST_RETIRED = ("--fast is retired: clips are sampled adaptively by default (sparsely where "
                "nothing moves, every frame where the legs move), which is faster at the same "
                "held angles; the flag has no effect. --every-frame analyses every frame.")


#: Names of files hiprom writes: an --out that does not exist yet and ends so was meant as
#: a file (``-o result.json``), and would silently become a folder of that name.
_RESULT_SUFFIXES = frozenset({".json", ".csv", ".html", ".pdf", ".mp4", ".webm", ".png",
                              ".jpg", ".c3d", ".mot", ".trc", ".sqlite", ".sqlite3"})


def check_out_dir(out: Path | None) -> None:
    """Refuse an output folder that cannot hold the results, before anything is measured.

    A path that is not UTF-8 text is written into the results (JSON, the batch store,
    results.csv, the history), none of which can hold the undecodable bytes, and OpenCV's
    video writer crashes on it. A path that is a file, or lies below one, can never become
    the folder, and one in a folder that may not be written to cannot be made: found only
    when the first result is written, either would fail each input in turn after measuring
    it, with the same line for every input.

    A path that does not exist yet and ends like a result file (``-o result.json``) was
    meant as a file; it is refused rather than made into a folder of that name.

    Raises:
        InputError: the path holds bytes that are not UTF-8, or it or a folder above it is
            a file, or it (or the nearest folder above it) may not be written to, or it is
            new and named like a file.

    """
    if out is None:
        return
    if not is_utf8_path(out.absolute()):
        raise InputError(f"--out {printable(out.absolute())}: the folder's path is not valid "
                         "UTF-8 text, which the result files cannot record; pick an output "
                         "folder with a UTF-8 name")
    if (problem := _not_a_folder(out)) is not None:
        raise InputError(f"--out {problem}")
    if not out.exists() and out.suffix.lower() in _RESULT_SUFFIXES:
        raise InputError(f"--out {printable(out)} looks like a file name, but --out takes a "
                         "folder for the result files; pick a folder path, e.g. --out results")


def _not_a_folder(out: Path) -> str | None:
    """Why ``out`` cannot be made (or used as) the results folder, or None.

    The line :func:`~hiprom.errors.describe_os_error` gives for the error that writing there
    would meet: ``out`` is a file (EEXIST), a folder above it is (ENOTDIR), or the folder (or
    the nearest existing one above it) may not be written to (EACCES, EROFS).
    """
    try:
        target = out if out.exists() else next((p for p in out.parents if p.exists()), None)
        if target is None:
            return None
        if not target.is_dir():
            code = errno.EEXIST if target == out else errno.ENOTDIR
            return describe_os_error(OSError(code, os.strerror(code), out))
        if not os.access(target, os.W_OK | os.X_OK):
            read_only = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
            code = errno.EROFS if read_only else errno.EACCES
            return describe_os_error(OSError(code, os.strerror(code), target))
    except OSError:  # not even looked at (no permission): writing will say what is wrong
        return None
    return None


def sampling_options(*, every_frame: bool, stride: int, **fields: Any) -> MeasureOptions:
    """``MeasureOptions`` from the sampling flags ``measure`` and ``batch`` share.

    Adaptive sampling unless ``--every-frame`` (or what implies it: ``--annotate``,
    ``--export``) or ``--stride N`` asks otherwise.

    Raises:
        InputError: ``--every-frame`` together with ``--stride N``.

    """
    if every_frame and stride > 1:
        raise InputError("--stride N analyses every N-th frame, so it cannot go with "
                         "--every-frame, --annotate or --export; drop one")
    return MeasureOptions(every_frame=every_frame, stride=stride, **fields)


#: ``--model`` for the commands that measure files.
ModelOption = Annotated[PoseModel, typer.Option(
    help="Pose network: full (default), heavy (a second opinion, about 3x slower) or lite "
         "(fastest; errs about twice as much as full, so its 95% intervals are wider, "
         "most with the camera high above the knees).")]
#: ``--show-faces`` for the commands that export images (faces are blurred by default).
ShowFacesOption = Annotated[bool, typer.Option(
    "--show-faces", help="Do not blur faces in the images written (key frame, annotated "
    "video or photo; the report shows the key frame). By default every face found, by the "
    "face detector or the pose model, is blurred; the JSON's faces_blurred says which.")]
#: Printed when ``batch --blur-faces`` is given: blurring is the default now.
BLUR_FACES_DEFAULT = ("--blur-faces is the default now (faces are blurred in every image "
                      "written); the flag has no effect. --show-faces turns blurring off.")

#: ``--side`` for the commands that measure files.
SideOption = Annotated[TestedSide, typer.Option(
    help="Which leg was tested: auto (a leg that never moves, or rests vertical in a photo, "
         "is not scored), left, right, or both.")]
