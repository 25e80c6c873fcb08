"""The ``hiprom`` command group: a usage error is one line, as every other error is.

Click shows a usage error (a missing argument, an unknown option or command, a bad value)
as a usage block, a hint and an ``Error:`` line. :class:`OneLineUsageGroup` shows it as one
red line on stderr saying what was wrong and what to do, and exits with click's code for
usage errors, 2. ``--help``, and ``hiprom`` alone (which shows the help), are unchanged.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from hiprom.cli.consoles import console
from hiprom.errors import printable

if TYPE_CHECKING:
    from typer._click.core import Context
    from typer._click.exceptions import UsageError

__all__ = ["EXAMPLES", "OneLineUsageGroup", "usage_line"]

#: A complete call of each command that needs an argument, shown when one is missing.
EXAMPLES = {
    "measure": "hiprom measure clip.mp4",
    "batch": "hiprom batch footage/ --out scores/",
    "agreement": "hiprom agreement scores/results.csv reference.csv",
}
#: click's exceptions as typer raises them: typer 0.2x carries its own copy of click, an
#: older typer uses click itself; either way typer exports BadParameter from that module.
_click_errors: Any = sys.modules[typer.BadParameter.__module__]
#: ``hiprom`` alone shows the help through this usage error (click 8.2 and later).
_SHOWS_HELP: Any = getattr(_click_errors, "NoArgsIsHelpError", ())


def _sentence_part(text: str) -> str:
    """``text`` to follow other words: first letter lower-cased (unless an acronym), no final dot.

    Examples:
        >>> _sentence_part("Video files or photos.")
        'video files or photos'
        >>> _sentence_part("CSV of readings.")
        'CSV of readings'

    """
    text = text.strip().rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return text


def usage_line(err: UsageError, command: str) -> str:
    """What was wrong and what to do, in one line, for a usage error of ``command``.

    Args:
        err: the error click raised while parsing the command line.
        command: the command it is about, e.g. ``hiprom measure``.

    """
    param = getattr(err, "param", None)
    if (isinstance(err, _click_errors.MissingParameter)
            and getattr(param, "param_type_name", None) == "argument"):
        name = (getattr(param, "name", None) or "argument").upper()
        about = getattr(param, "help", None)
        what = f" ({_sentence_part(about)})" if about else ""
        example = EXAMPLES.get(command.split()[-1])
        todo = f"e.g. {example}" if example else f"see {command} --help"
        return f"no {name} given{what}; {todo}"
    # typer's own validation words a bad value "Value error, 'x' is not one of ...".
    message = _sentence_part(err.format_message().replace("Value error, ", "", 1))
    if message.endswith("?"):  # "... Did you mean 'measure'?" already says what to do
        return message
    option = getattr(err, "option_name", None)
    if (isinstance(err, _click_errors.NoSuchOption) and option
            and not option.startswith("--")):
        # ``hiprom measure -clip.mp4``: a file name that starts with a dash reads as options
        return (f"{message}; a file whose name starts with '-'? write ./ before it (or put -- "
                f"before the files); see {command} --help")
    return f"{message}; see {command} --help"


def _show(message: str) -> None:
    console(stderr=True).print(
        Text.assemble(("error: ", "bold red"), printable(message)), soft_wrap=True)


@contextlib.contextmanager
def _one_line(command: Callable[[], str]) -> Iterator[None]:
    """Show a usage error raised inside the block as one line and exit with its code (2).

    ``command()`` names the command for an error that carries no context of its own (an
    option given without its value).
    """
    try:
        yield
    except _click_errors.UsageError as err:
        if isinstance(err, _SHOWS_HELP):
            raise
        where = err.ctx.command_path if err.ctx is not None else command()
        _show(usage_line(err, where))
        raise typer.Exit(code=err.exit_code) from None


class OneLineUsageGroup(TyperGroup):
    """The ``hiprom`` group: usage errors of the group and of every command are one line."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: Context | None = None, **extra: Any) -> Context:
        """Parse the group's own options (``hiprom --bogus`` fails here)."""
        with _one_line(lambda: info_name or "hiprom"):
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Context) -> Any:
        """Find the command, parse its arguments (a missing one fails here) and run it."""
        def command() -> str:
            return " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))

        with _one_line(command):
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt:
                # A command that keeps work on Ctrl-C catches it itself and says so; for the
                # rest, the one interrupt line (typer would exit 130 without a word).
                from hiprom.cli.common import interrupted

                raise interrupted() from None
