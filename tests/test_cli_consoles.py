"""The consoles the commands print through: whole lines to a pipe, a terminal's width on one."""

from __future__ import annotations

import io

from rich.table import Table

from hiprom.cli.consoles import UNWRAPPED_WIDTH, LineConsole

LONG = "/data/" + "a-long-folder-name/" * 10 + "clip.mp4"


def test_a_pipe_gets_whole_lines_and_tables_even_with_columns_set(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")       # a terminal's width: no terminal here
    buffer = io.StringIO()
    console = LineConsole(file=buffer, markup=False)
    assert not console.is_terminal and console.width == UNWRAPPED_WIDTH
    console.print(f"error: {LONG}: does not exist")
    table = Table(title=LONG, title_justify="left")
    table.add_column("path")
    table.add_row(LONG)
    console.print(table)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == f"error: {LONG}: does not exist"     # not wrapped, not padded
    assert LONG in lines[1] and any(LONG in line for line in lines[2:])
    assert max(map(len, lines)) < 2 * len(LONG)              # a table takes what it needs


def test_a_terminal_keeps_its_width_and_a_given_width_is_kept():
    terminal = LineConsole(file=io.StringIO(), force_terminal=True)
    assert terminal.width < UNWRAPPED_WIDTH
    assert LineConsole(file=io.StringIO(), width=60).width == 60
    changed = LineConsole(file=io.StringIO())
    changed.width = 70
    assert changed.width == 70

