"""The rich consoles the commands print through: a line to a pipe or a log file stays one line.

Rich lays text out for a terminal 80 columns wide when it writes to something else, so a
long path in a table or its title would be broken over several lines (or cut with "…") in
a CI log or ``hiprom measure ... | cat``. :class:`LineConsole` lays out for a terminal's
width on a terminal, as rich does, and writes everything to a pipe or file at its full
length: lines are not wrapped, table cells are not cut. (Log records are one line each
through ``hiprom.cli.main``'s handler, which prints on such a console.)
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.table import Table
from rich.text import Text

__all__ = ["UNWRAPPED_WIDTH", "LineConsole", "console", "titled_table"]

#: The width a console lays out for when it does not write to a terminal: no line of ours
#: comes near it, so none is wrapped or cut. Tables take only the width they need (they do
#: not expand to the console's width), and plain lines are not padded to it.
UNWRAPPED_WIDTH = 100_000


class LineConsole(Console):
    """A rich :class:`~rich.console.Console` that never wraps or cuts output to a non-terminal.

    Whether it writes to a terminal is asked at each print, so a console made at import
    time is right for whatever stream it finds later (a pipe, a test runner's buffer). An
    explicit ``width`` is kept; ``COLUMNS`` is a terminal's width and applies only to one.
    Messages printed without ``soft_wrap`` on a terminal are laid out as rich does.
    """

    def __init__(self, *args: Any, width: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, width=width, **kwargs)
        self._fixed_width = width is not None

    @property
    def size(self) -> ConsoleDimensions:
        """Rich's size on a terminal (or when a width was given); else :data:`UNWRAPPED_WIDTH`."""
        size = super().size
        if self._fixed_width or self.is_jupyter or self.is_terminal:
            return size
        return ConsoleDimensions(UNWRAPPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size
        self._fixed_width = True

    @property
    def width(self) -> int:
        """The width lines are laid out for (see :attr:`size`)."""
        return self.size.width

    @width.setter
    def width(self, width: int) -> None:
        self._width = width
        self._fixed_width = True


def console(*, stderr: bool = False, markup: bool = False) -> LineConsole:
    """A console for a command's output (stdout) or messages (``stderr=True``).

    No highlighting; no markup unless ``markup`` (then every user string printed must be
    escaped). User text is still shown through :func:`~hiprom.errors.printable`.
    """
    return LineConsole(stderr=stderr, highlight=False, markup=markup)


def titled_table(title: str, *, markup: bool = False) -> Table:
    """A table with ``title`` above it on the left, at least as wide as the title.

    Rich wraps a title at the width of its table, which is often narrower than a title that
    names a file: made as wide as the title, the table keeps a long name in one line (on a
    terminal no wider than the terminal).

    Args:
        title: the title; rich markup when ``markup`` (a markup console prints it).
        markup: whether ``title`` is markup (its tags and escapes take no room).

    """
    width = (Text.from_markup(title) if markup else Text(title)).cell_len
    return Table(title=title, title_justify="left", min_width=width)
