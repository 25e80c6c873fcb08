"""One measurement path: ``measure``, ``batch`` and ``live --source --headless`` agree exactly.

Real MediaPipe on a rendered sample, every frame analysed by each entry point (``measure``
and ``batch`` with ``--every-frame``; ``live`` always analyses every frame). The three
commands are run as a user runs them (the installed ``hiprom`` app), and their saved
per-leg values must be the same to 0.01°.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hiprom.cli.main import app
from hiprom.vocabulary import SIDES

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "seated_ir_left_right.mp4"
FIELDS = ("internal_rotation_deg", "internal_rotation_ci95_deg", "external_rotation_deg",
          "external_rotation_ci95_deg", "neutral_deg")

pytestmark = [pytest.mark.mediapipe, pytest.mark.slow,
              pytest.mark.skipif(not SAMPLE.is_file(), reason="rendered sample not present")]


def _legs(doc: dict) -> dict[str, dict[str, float | None]]:
    return {side: {f: doc["legs"][side][f] for f in FIELDS} for side in SIDES}


def _invoke(args: list[str]) -> None:
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output


@pytest.fixture(scope="module")
def three_ways(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("parity")
    (tmp / "in").mkdir()
    clip = tmp / "in" / SAMPLE.name
    clip.symlink_to(SAMPLE)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HIPROM_HOME", str(tmp / "home"))   # live saves a history entry
        _invoke(["measure", str(clip), "--out", str(tmp / "measure"), "--no-history",
                 "--every-frame"])
        _invoke(["batch", str(tmp / "in"), "--out", str(tmp / "batch"), "--workers", "1",
                 "--quiet", "--every-frame"])
        _invoke(["live", "--source", str(clip), "--headless", "--out", str(tmp / "live")])
    batch_json = next((tmp / "batch").rglob(f"{clip.stem}.json"))
    return {
        "measure": json.loads((tmp / "measure" / f"{clip.stem}.json").read_text()),
        "batch": json.loads(batch_json.read_text()),
        "live": json.loads((tmp / "live" / f"{clip.stem}.json").read_text()),
    }


def test_measure_batch_and_live_give_the_same_legs(three_ways: dict[str, dict]) -> None:
    reference = _legs(three_ways["measure"])
    assert reference["left"]["internal_rotation_deg"] is not None
    for name in ("batch", "live"):
        got = _legs(three_ways[name])
        for side in SIDES:
            for field, value in reference[side].items():
                other = got[side][field]
                assert (value is None) == (other is None), (name, side, field)
                if value is not None:
                    assert other == pytest.approx(value, abs=0.01), (name, side, field)


def test_every_frame_was_analysed_by_each(three_ways: dict[str, dict]) -> None:
    frames = {name: doc["source"]["n_frames"] for name, doc in three_ways.items()}
    assert len(set(frames.values())) == 1, frames
    analysed = {name: doc["source"]["frames_analysed"] for name, doc in three_ways.items()}
    assert analysed == frames, analysed
