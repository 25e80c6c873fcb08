"""What the command line prints is what it means: no markup interpretation, no placeholders."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hiprom.cli.main import app

COMMANDS = ["measure", "batch", "live", "routines", "history", "report"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_brackets_and_no_type_placeholders(command):
    run = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert run.exit_code == 0, run.output
    assert "<bool>" not in run.output


def test_batch_help_names_the_dask_extra_with_its_brackets():
    run = CliRunner().invoke(app, ["batch", "--help"], terminal_width=200)
    assert 'pip install "hiprom[dask]"' in run.output


@pytest.mark.parametrize("name", ["a[/]b.mp4", "[bold]x[/bold].jpg", "c[/red.mp4"])
def test_a_path_with_markup_characters_is_printed_as_it_is(tmp_path, name):
    missing = tmp_path / name
    run = CliRunner().invoke(app, ["measure", str(missing), "--out", str(tmp_path / "o"),
                                   "--no-history"], terminal_width=400)
    assert run.exit_code == 1
    assert "Traceback" not in run.output
    assert name in run.output
