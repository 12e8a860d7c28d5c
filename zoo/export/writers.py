"""Writing one artifact in each format, with the manifest's names for its inputs and outputs."""

from __future__ import annotations

import json
import pathlib


def io_spec(named) -> dict:
    """The manifest entry of a NamedModel: its inputs and outputs by name, shape and dtype."""
    def describe(name, tensor):
        return {"name": name, "shape": [None if d is None else int(d) for d in tensor.shape],
                "dtype": str(tensor.dtype).replace("tf.", "")}

    return {"inputs": [describe(n, t) for n, t in zip(named.input_names, named.model.inputs)],
            "outputs": [describe(n, t) for n, t in zip(named.output_names, named.model.outputs)]}


def write(fmt: str, named, path: pathlib.Path) -> None:
    """Write NamedModel `named` as format `fmt` at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "keras":
        named.model.save(path)
    elif fmt == "savedmodel":
        _write_savedmodel(named, path)
    else:
        _write_onnx(named, path)


def _write_savedmodel(named, path) -> None:
    """A SavedModel whose serving signature has named inputs and outputs, dynamic batch."""
    import keras
    import tensorflow as tf

    model = named.model
    archive = keras.export.ExportArchive()
    archive.track(model)
    specs = [tf.TensorSpec(i.shape, i.dtype, name=name) for name, i in zip(named.input_names, model.inputs)]

    def serve(*args):
        result = model(list(args) if len(args) > 1 else args[0], training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        return dict(zip(named.output_names, result))

    archive.add_endpoint("serve", serve, input_signature=specs)
    archive.write_out(str(path), verbose=False)


def _write_onnx(named, path) -> None:
    """ONNX through keras (tf2onnx), then the graph outputs renamed to the manifest's names."""
    import onnx

    named.model.export(str(path), format="onnx", verbose=False)
    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    renames = {o.name: new for o, new in zip(graph.output, named.output_names)}
    for node in graph.node:
        node.output[:] = [renames.get(n, n) for n in node.output]
        node.input[:] = [renames.get(n, n) for n in node.input]
    for o in graph.output:
        o.name = renames[o.name]
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(path))


def write_manifest(folder: pathlib.Path, manifest: dict) -> None:
    """`manifest` with the sha256 of every file of `folder`, as manifest.json."""
    from zoo.runtime import MANIFEST, sha256_file

    manifest["files"] = {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
                         if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
