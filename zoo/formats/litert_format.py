"""LiteRT (the TFLite runtime): a ``.tflite`` per artifact, written by TensorFlow's converter
with builtin ops only, so the bare ``ai-edge-litert`` interpreter runs it (no Flex delegate,
no TensorFlow); its int8 variant by dynamic-range quantization. Each file carries a named
signature (``serving_default``, the manifest's input and output names) and the zoo's
metadata as named buffers.

Converted at batch 1: the recurrent loop's tensor lists need a static element shape, and
batch 1 is how edge runtimes run a step model; the loader runs a batch row by row.
"""

from __future__ import annotations

import numpy as np

from zoo.compat.library_logs import quiet_logger, stderr_held, verbose

SIGNATURE = "serving_default"


def _convert(named, *, int8: bool) -> bytes:
    import tensorflow as tf
    # Freezing by hand: the converter leaves the weights read inside the recurrent while loop
    # as resource variables, which the interpreter cannot find (READ_VARIABLE fails at run time).
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from zoo.formats.tensorflow_formats import serving_function

    serve = serving_function(named, batch=1, outputs_as="tuple")
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function(), lower_control_flow=False)
    # Without a trackable object the converter warns that this path is deprecated; with one it
    # takes the path that leaves the variables unfrozen (above). The warning is held back.
    with quiet_logger("absl"):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if int8:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]  # int8 weights, float activations
        return converter.convert()


def _identity_number(name: str) -> int | None:
    """N of a frozen function's output tensor ``Identity_N`` (``Identity`` is 0), else None."""
    stem, _, number = name.partition("_")
    return int(number or 0) if stem == "Identity" and (not number or number.isdigit()) else None


def _write(named, path, *, int8: bool) -> None:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(_convert(named, int8=int8)))
    graph = model.subgraphs[0]
    names = {graph.tensors[i].name.decode().split(":")[0]: i for i in graph.inputs}
    if sorted(names) != sorted(named.input_names):
        raise ValueError(f"LiteRT inputs {sorted(names)}, expected {named.input_names}")
    # The outputs in return order: a frozen function names them Identity_N; an output that
    # passes an input through unchanged (a context state) is that input's tensor.
    outputs = list(graph.outputs)
    numbers = [_identity_number(graph.tensors[i].name.decode()) for i in outputs]
    if len(outputs) != len(named.output_names) or [n for n in numbers if n is not None] != sorted(
            n for n in numbers if n is not None) or any(n is None and i not in graph.inputs
                                                        for n, i in zip(numbers, outputs)):
        raise ValueError(f"LiteRT outputs {[graph.tensors[i].name.decode() for i in outputs]} do not follow "
                         f"{list(named.output_names)}")
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = SIGNATURE, 0
    signature.inputs = [_tensor_map(schema, name, names[name]) for name in named.input_names]
    signature.outputs = [_tensor_map(schema, name, index) for name, index in zip(named.output_names, outputs)]
    for name, index in zip(named.output_names, outputs):
        if index not in graph.inputs:  # a passed-through input keeps its own name
            graph.tensors[index].name = name.encode()
    model.signatureDefs = [signature]
    path.write_bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _tensor_map(schema, name: str, index: int):
    entry = schema.TensorMapT()
    entry.name, entry.tensorIndex = name, index
    return entry


def write_litert(named, path) -> None:
    _write(named, path, int8=False)


def write_litert_int8(named, path) -> None:
    _write(named, path, int8=True)


def load_litert(path, spec):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner(SIGNATURE)
    inputs = [i["name"] for i in spec["inputs"]]
    outputs = [o["name"] for o in spec["outputs"]]
    first = [not verbose()]  # the first call logs "INFO: Created TensorFlow Lite XNNPACK delegate"

    def call(row):
        if first[0]:
            first[0] = False
            with stderr_held():
                return runner(**row)
        return runner(**row)

    def run(arrays):
        rows = [call({name: array[i : i + 1] for name, array in zip(inputs, arrays)}) for i in range(len(arrays[0]))]
        return [np.concatenate([row[name] for row in rows]) for name in outputs]

    return run


def describe_litert(path, metadata: dict) -> None:
    """Add `metadata` (str -> str) to the file as named metadata buffers (the flatbuffer's
    ``metadata`` list; ``ai_edge_litert.tools.flatbuffer_utils.read_model`` reads them)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() not in metadata]
    for key, value in metadata.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(value.encode("utf-8"), dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = key, len(model.buffers) - 1
        model.metadata.append(entry)
    flatbuffer_utils.write_model(model, str(path))


def read_metadata(path, prefix: str) -> dict:
    """The metadata of a ``.tflite`` file whose names start with `prefix` (what
    :func:`describe_litert` wrote; the converter's own entries are binary)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    return {m.name.decode(): bytes(np.asarray(model.buffers[m.buffer].data, dtype=np.uint8)).decode("utf-8")
            for m in model.metadata or [] if m.name.decode().startswith(prefix)}


def versions() -> dict:
    from importlib.metadata import version

    return {"ai-edge-litert": version("ai-edge-litert")}
