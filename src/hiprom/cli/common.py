"""Options and words the commands share (no command imports another command's module)."""

from __future__ import annotations

import errno
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hiprom.backends.base import PoseModel
from hiprom.errors import InputError, describe_os_error, is_utf8_path, printable
from hiprom.pipeline.analysis import MeasureOptions, TestedSide

__all__ = ["BLUR_FACES_DEFAULT", "FAST_RETIRED", "INTERRUPTED", "NOT_SAVED", "PERSON_ENV",
           "ModelOption", "PersonOption", "SecondNetworkOption", "ShowFacesOption",
           "SideOption", "check_out_dir",
           "checked_person", "interrupted",
           "out_dir",
           "sampling_options", "usage_error"]

#: click's UsageError as typer raises it (typer carries its own copy of click, or uses
#: click itself: see hiprom.cli.usage); the command group shows it in one line, exit 2.
_UsageError: Any = sys.modules[typer.BadParameter.__module__].UsageError


def usage_error(message: str) -> Exception:
    """A usage error to raise from a command: one line ``message; see … --help``, exit 2."""
    error: Exception = _UsageError(message)
    return error

#: The environment variable that names the person when ``--person`` is not given.
PERSON_ENV = "HIPROM_PERSON"


def checked_person(ctx: typer.Context, param: typer.CallbackParam,
                   name: str | None) -> str | None:
    """``--person``'s callback: a name the history cannot take is a usage error, at once.

    Checked when the command line is read, so a bad name stops the command before anything
    is measured or served (it had been found only when saving each finished test). A blank
    HIPROM_PERSON counts as unset, as an empty one does.
    """
    if name is None:
        return None
    source = ctx.get_parameter_source(str(param.name))
    if not name.strip() and source is not None and source.name == "ENVIRONMENT":
        return None if param.default is None else str(param.default)  # as if unset
    from hiprom.report.history import check_person

    try:
        return check_person(name)
    except InputError as err:
        raise typer.BadParameter(str(err)) from None


#: ``--person`` for the commands that save a test: a test is saved only when a person is named.
PersonOption = Annotated[str | None, typer.Option(
    "--person", envvar=PERSON_ENV, show_envvar=True, callback=checked_person,
    help="Save the test into this person's progress history (hiprom history); without a "
         "name nothing is saved.")]
#: Printed once when a test was measured but not saved.
NOT_SAVED = ("not saved to a history: pass --person NAME (or set HIPROM_PERSON) to track "
             "progress over weeks")
#: What a command prints on Ctrl-C (SIGINT) when it keeps nothing partial; it exits 130.
INTERRUPTED = "interrupted; nothing partial was kept — run the same command again to finish"


def interrupted() -> typer.Exit:
    """Print the one interrupt line to stderr and return the Exit (code 130) to raise."""
    from hiprom.cli.consoles import console

    console(stderr=True).print(INTERRUPTED, soft_wrap=True, markup=False, highlight=False)
    return typer.Exit(code=130)

#: Printed when the retired ``--fast`` flag is given (it is accepted and does nothing).
FAST_RETIRED = ("--fast is retired: clips are sampled adaptively by default (sparsely where "
                "nothing moves, every frame where the legs move), which is faster at the same "
                "held angles; the flag has no effect. --every-frame analyses every frame.")


#: Names of files hiprom writes: an --out that does not exist yet and ends so was meant as
#: a file (``-o result.json``), and would silently become a folder of that name.
_RESULT_SUFFIXES = frozenset({".json", ".csv", ".html", ".pdf", ".mp4", ".webm", ".png",
                              ".jpg", ".c3d", ".mot", ".trc", ".sqlite", ".sqlite3"})


def out_dir(out: Path | None, default: str) -> Path:
    """The output folder: ``out`` as given, or ``default`` without ``--out``; checked.

    Raises:
        InputError: as :func:`check_out_dir`, naming ``default`` as the default folder
            (not as an ``--out`` the user never gave).

    """
    folder = Path(default) if out is None else out
    check_out_dir(folder, given=out is not None)
    return folder


def check_out_dir(out: Path | None, *, given: bool = True) -> None:
    """Refuse an output folder that cannot hold the results, before anything is measured.

    A path that is not UTF-8 text is written into the results (JSON, the batch store,
    results.csv, the history), none of which can hold the undecodable bytes, and OpenCV's
    video writer crashes on it. A path that is a file, lies below one or is a link to
    nothing can never become the folder, and one where no file can be written (no
    permission, a read-only or full disk, an exceeded quota) cannot hold a result: found
    only when the first result is written, each would fail every input in turn after
    measuring it, with the same line for every input.

    A path that does not exist yet and ends like a result file (``-o result.json``) was
    meant as a file; it is refused rather than made into a folder of that name.

    Args:
        out: the folder; None when the command makes its own later (nothing to check).
        given: whether the user named ``out`` with ``--out``. When not (the command's own
            default folder), the line names the folder as the default and says that
            ``--out`` chooses another, rather than blaming an ``--out`` never given.

    Raises:
        InputError: the path holds bytes that are not UTF-8, or it or a folder above it is
            a file or a dangling link, or no file can be written there, or it is new and
            named like a file.

    """
    if out is None:
        return
    if not is_utf8_path(out.absolute()):
        raise InputError(f"--out {printable(out.absolute())}: the folder's path is not valid "
                         "UTF-8 text, which the result files cannot record; pick an output "
                         "folder with a UTF-8 name")
    if (problem := _cannot_hold_results(out, "--out " if given else "")) is not None:
        raise InputError(problem if given else
                         f"{problem}; without --out the results are saved in "
                         f"{printable(out)}: choose another folder with --out FOLDER")
    if not out.exists() and out.suffix.lower() in _RESULT_SUFFIXES:
        raise InputError(f"--out {printable(out)} looks like a file name, but --out takes a "
                         "folder for the result files; pick a folder path, e.g. --out results")


def _cannot_hold_results(out: Path, prefix: str) -> str | None:
    """Why no result can be written in the folder ``out`` (made if new), or None.

    A dangling link is named with its target. Otherwise the line
    :func:`~hiprom.errors.describe_os_error` gives for the error that writing would meet,
    naming ``out`` or the nearest existing folder above it after ``prefix``: ``out`` is a
    file (EEXIST), a folder above it is (ENOTDIR), or writing there fails (EACCES, EPERM,
    EROFS, ENOSPC, EDQUOT, ...). Writing is tried, not read from permission bits (which say
    nothing of root, access lists, a read-only mount or a full disk): see
    :func:`_try_writing`. ``out`` itself is not made, so a command that fails later for
    another reason leaves no empty folder behind.
    """
    target: Path | None = None
    try:
        for path in (out, *out.parents):
            if path.exists():
                target = path
                break
            if path.is_symlink():
                return (f"{prefix}{printable(path)} is a link to "
                        f"{printable(os.readlink(path))}, which does not exist; pick a folder "
                        "path or make the link's target")
        if target is None:
            return None
        if not target.is_dir():
            code = errno.EEXIST if target == out else errno.ENOTDIR
            return _os_error_line(OSError(code, os.strerror(code)), prefix, out)
        new = target != out
        if new:
            target = target.absolute()
        try:
            _try_writing(target, new=new)
        except FileNotFoundError:  # the folder is there, but nothing can be made in it
            return (f"{prefix}{printable(target)}: nothing can be created in this folder; "
                    "pick another folder")
    except OSError as err:  # cannot even look (no permission), or writing failed
        return _os_error_line(err, prefix, target or out)
    return None


#: The start of the name of the file (and, for a new output folder, the folder) that
#: :func:`_try_writing` makes and removes.
_WRITE_CHECK_PREFIX = ".hiprom-write-check-"


def _try_writing(folder: Path, *, new: bool) -> None:
    """Write a small file in ``folder`` and remove it; OSError when that fails.

    With ``new``, ``folder`` is where the output folder would be made: a folder is made in
    it and the file written in that, as the results will be. The file's bytes are written
    (a full disk or an exceeded quota refuses them, not the empty file) but not synced.
    """
    name = f"{_WRITE_CHECK_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    made = folder / name if new else None
    if made is not None:
        os.mkdir(made, 0o700)
    path = (made or folder) / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                os.write(fd, b"hiprom checks that results can be written here\n")
            finally:
                os.close(fd)
        finally:
            os.unlink(path)
    finally:
        if made is not None:
            os.rmdir(made)


def _os_error_line(err: OSError, prefix: str, path: Path) -> str:
    """The line for ``err`` met at ``path`` (not at the file named in ``err``: the check's)."""
    where = f"{prefix}{printable(path)}"
    return (describe_os_error(OSError(err.errno, err.strerror), where)
            or f"{where}: {printable(err.strerror or err).lower()}; pick another folder")


def sampling_options(*, every_frame: bool, stride: int,
                     implied_by: str = "--every-frame or --annotate",
                     **fields: Any) -> MeasureOptions:
    """``MeasureOptions`` from the sampling flags ``measure`` and ``batch`` share.

    Adaptive sampling unless ``--every-frame`` (or what implies it: ``--annotate``, and
    ``measure``'s ``--export``) or ``--stride N`` asks otherwise. ``implied_by`` names the
    command's own flags that ask for every frame, for the message.

    Raises:
        UsageError: ``--every-frame`` together with ``--stride N``, or options that
            ``MeasureOptions`` refuses together (click's: exit code 2), raised before
            anything is created.

    """
    if every_frame and stride > 1:
        raise usage_error("--stride N analyses every N-th frame, so it cannot go with "
                          f"{implied_by}; drop one")
    try:
        return MeasureOptions(every_frame=every_frame, stride=stride, **fields)
    except InputError as err:   # options that cannot go together (--second-network, --model)
        raise usage_error(str(err)) from None


#: ``--model`` for the commands that measure files.
ModelOption = Annotated[PoseModel, typer.Option(
    help="Pose network: full (default), heavy (a second opinion, about 3x slower) or lite "
         "(fastest; errs about twice as much as full, so its 95% intervals are wider, "
         "most with the camera high above the knees).")]
#: ``--second-network`` for the commands that measure files.
SecondNetworkOption = Annotated[bool, typer.Option(
    "--second-network", help="Also run a second pose network (MoveNet Thunder) and average "
    "its knees and ankles with the first's: on clips it errs less where one network is "
    "misled (long trousers in the seat's colour, a camera below the knees); photos do not "
    "gain. About twice the time per frame (docs/ACCURACY.md). With the full network only.")]
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
