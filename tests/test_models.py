"""The bundled networks: provenance pinned, each loads and finds the person (or the face)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hiprom.backends.base import PoseModel
from hiprom.backends.mediapipe import default_model_path, model_info
from hiprom.cli.main import app
from hiprom.errors import BackendError

MODELS = Path(__file__).resolve().parents[1] / "models"
STILL = Path(__file__).resolve().parents[1] / "samples" / "still_right_ir45_far.png"


def _readme_table() -> dict[str, tuple[str, int]]:
    text = (MODELS / "README.md").read_text()
    rows = re.findall(r"^\| `((?:pose_landmarker_\w+\.task)|(?:face_detection_\w+\.tflite)|"
                      r"(?:movenet_\w+\.tflite))` "
                      r"\| `([0-9a-f]{64})` \| ([\d,]+) \|", text, flags=re.MULTILINE)
    return {name: (digest, int(size.replace(",", ""))) for name, digest, size in rows}


def test_the_table_lists_exactly_the_bundled_networks():
    from importlib import resources

    installed = {p.name for p in resources.files("hiprom.models").iterdir()
                 if p.name.endswith((".task", ".tflite"))}
    assert installed == set(_readme_table())
    assert {"face_detection_full_range.tflite", "face_detection_short_range.tflite"} <= installed


@pytest.mark.parametrize("kind", ["full_range", "short_range"])
def test_each_face_detector_matches_the_provenance_table(kind):
    from hiprom.backends.faces import FACE_MODELS, face_model_info, face_model_path

    data = face_model_path(kind).read_bytes()
    assert (hashlib.sha256(data).hexdigest(), len(data)) == _readme_table()[FACE_MODELS[kind]]
    info = {d["name"]: d["sha256"] for d in face_model_info()}
    assert info[FACE_MODELS[kind]] == _readme_table()[FACE_MODELS[kind]][0]


@pytest.mark.parametrize("model", list(PoseModel))
def test_each_bundle_matches_the_provenance_table(model):
    table = _readme_table()
    path = default_model_path(model)
    data = path.read_bytes()
    assert (hashlib.sha256(data).hexdigest(), len(data)) == table[model.bundle]
    assert model_info(model=model)["sha256"] == table[model.bundle][0]


def test_an_unknown_model_is_one_clear_error():
    with pytest.raises(BackendError, match="use full, heavy or lite"):
        default_model_path("huge")


@pytest.mark.mediapipe
@pytest.mark.parametrize("model", ["heavy", "lite"])
def test_each_model_measures_the_still_and_is_named_in_the_result(tmp_path, model):
    run = CliRunner().invoke(app, ["measure", str(STILL), "-o", str(tmp_path), "-q",
                                   "--model", model, "--no-history"])
    assert run.exit_code == 0, run.output
    import json

    doc = json.loads((tmp_path / f"{STILL.stem}.json").read_text())
    assert doc["model"]["name"] == f"pose_landmarker_{model}.task"
    assert doc["legs"]["right"]["internal_rotation_deg"] > 30


def test_cli_refuses_an_unknown_model(tmp_path):
    run = CliRunner().invoke(app, ["measure", str(STILL), "--model", "huge"])
    assert run.exit_code == 2
