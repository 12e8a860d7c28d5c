"""ONNX through keras (tf2onnx), run by onnxruntime; its int8 variant by onnxruntime's dynamic
quantization; the zoo's metadata in each file's ``metadata_props``."""

from __future__ import annotations

import pathlib
import tempfile

from zoo.compat.library_logs import quiet_logger


def write_onnx(named, path) -> None:
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


def write_onnx_int8(named, path) -> None:
    """The float ONNX file with its weights quantized to int8 (onnxruntime's dynamic
    quantization: MatMul, Gather and LSTM weights int8 in 7 bits, one scale per output
    channel, activations quantized to uint8 per call)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        float_path = pathlib.Path(folder) / "float.onnx"
        write_onnx(named, float_path)
        with quiet_logger(None):  # its advice to pre-process first (shape inference) is for static QDQ
            # Per channel: one scale per weight tensor cost the pixel generator 0.0119 bits per
            # pixel, past its 0.01 budget; one per output channel, 0.0035 (docs/exports.md).
            # reduce_range: weights in [-64, 64], so that the same file gives the same figures on
            # every CPU. onnxruntime's x86 kernels without VNNI (AVX2, AVX-512F) sum uint8 x int8
            # pairs in int16, which saturates with full-range weights: on an AVX2 EPYC the pixel
            # generator's shipped file measured 0.7149 bits per pixel against the 0.6341 its
            # VNNI machine measured (docs/exports.md).
            quantize_dynamic(float_path, path, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)


def load_onnx(path, spec):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i["name"] for i in spec["inputs"]]
    outputs = [o["name"] for o in spec["outputs"]]
    return lambda arrays: session.run(outputs, dict(zip(inputs, arrays)))


def describe_onnx(path, metadata: dict) -> None:
    """Write `metadata` (str -> str) into the file's ``metadata_props``, which onnxruntime
    returns as ``InferenceSession(path).get_modelmeta().custom_metadata_map``."""
    import onnx

    model = onnx.load(str(path))
    kept = [prop for prop in model.metadata_props if prop.key not in metadata]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def versions() -> dict:
    import onnx
    import onnxruntime
    import tf2onnx

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "tf2onnx": tf2onnx.__version__}
