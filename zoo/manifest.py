"""The export manifest (``manifest.json``): what an export folder holds and how to run it.

Written by ``zoo export`` beside the artifacts: the task, the artifacts' inputs and outputs
by name, shape and dtype, the vocabulary or class names, the data config and seed (to
rebuild the test split), the verification report, and the sha256 of every other file of the
folder. :func:`check` refuses a manifest that is not what ``zoo export`` writes; the task
checks its own part (:meth:`zoo.tasks.base.Task.check_manifest`).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from zoo import storage
from zoo.environment import VERSION

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def check(manifest: dict) -> None:
    """Raise ValueError/KeyError/TypeError where `manifest` is not what ``zoo export`` writes
    (a ZooError, e.g. an unknown task or a malformed vocabulary, passes through)."""
    from zoo.tasks import get_task

    task = get_task(manifest["task"])
    for name, spec in manifest["artifacts"].items():
        for kind in ("inputs", "outputs"):
            tensors = spec[kind]
            if not isinstance(tensors, list) or not tensors:
                raise ValueError(f"artifact {name!r}: {kind} must be a non-empty list")
            for tensor in tensors:
                if not isinstance(tensor["name"], str) or not isinstance(tensor["shape"], list):
                    raise ValueError(f"artifact {name!r}: each of its {kind} needs a name and a shape")
                if not all(d is None or isinstance(d, int) and d > 0 for d in tensor["shape"]):
                    raise ValueError(f"artifact {name!r}: bad shape {tensor['shape']}")
                if np.dtype(tensor["dtype"]).kind not in "fiu":
                    raise ValueError(f"artifact {name!r}: dtype {tensor['dtype']!r} is not numeric")
    if not isinstance(manifest["files"], dict):
        raise TypeError("files must map paths to sha256 digests")
    task.check_manifest(manifest)


def io_spec(named) -> dict:
    """The manifest entry of a NamedModel: its inputs and outputs by name, shape and dtype."""
    def describe(name, tensor):
        return {"name": name, "shape": [None if d is None else int(d) for d in tensor.shape],
                "dtype": str(tensor.dtype).replace("tf.", "")}

    return {"inputs": [describe(n, t) for n, t in zip(named.input_names, named.model.inputs)],
            "outputs": [describe(n, t) for n, t in zip(named.output_names, named.model.outputs)]}


# Keys of the metadata each artifact file carries (ONNX metadata_props, LiteRT metadata,
# OpenVINO rt_info), all prefixed, all text (JSON where not a plain string).
METADATA_PREFIX = "zoo."


def artifact_metadata(manifest: dict, artifact: str) -> dict[str, str]:
    """What a client handed one exported file needs to use it without the manifest: the task,
    the file's role (``artifact``), its inputs and outputs, the vocabulary or classes, the
    decoding options and data config, how to feed it (``conventions``, the task's), the
    format version and the zoo's version."""
    from zoo.tasks import get_task

    task = get_task(manifest["task"])
    fields = {
        "format_version": FORMAT_VERSION, "version": VERSION, "task": manifest["task"],
        "model": manifest["model"], "recipe": manifest["recipe"], "artifact": artifact,
        "artifacts": sorted(manifest["artifacts"]),
        "inputs": manifest["artifacts"][artifact]["inputs"], "outputs": manifest["artifacts"][artifact]["outputs"],
        "vocab": manifest.get("vocab"), "classes": manifest.get("classes"), "decoding": manifest.get("decoding"),
        "data": manifest.get("data"), "conventions": task.conventions,
    }
    return {METADATA_PREFIX + key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            for key, value in fields.items() if value is not None}


def write(folder: pathlib.Path, manifest: dict) -> None:
    """`manifest` with the sha256 of every other file of `folder`, as manifest.json."""
    manifest["files"] = storage.file_digests(folder, exclude=MANIFEST)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
