"""tests/conftest.py's ``require_tool``: found → its path; missing → skip here, fail in CI."""

from __future__ import annotations

import os

import pytest


def test_a_present_tool_gives_its_path(require_tool):
    assert os.path.isfile(require_tool("no-such-tool-hiprom", "sh"))


@pytest.mark.parametrize(("ci", "outcome"), [(None, pytest.skip.Exception),
                                             ("false", pytest.skip.Exception),
                                             ("true", pytest.fail.Exception)])
def test_a_missing_tool_skips_on_a_developer_machine_and_fails_in_ci(require_tool, monkeypatch,
                                                                     tmp_path, ci, outcome):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: nothing is installed
    with pytest.raises(outcome, match=r"Xvfb is not installed \(apt-get install xvfb\)"):
        require_tool("Xvfb")
