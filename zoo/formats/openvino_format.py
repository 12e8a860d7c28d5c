"""OpenVINO IR: a folder per artifact (``model.xml``, ``model.bin``), read from the ONNX file
where OpenVINO's ONNX reader takes it, else from the TensorFlow serving function (tf2onnx's
``Loop``, written for SimpleRNN and Hawk's scan, is refused by that reader); run by the
``openvino`` runtime in float32. The zoo's metadata sits in the model's ``rt_info``."""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np

MODEL_XML = "model.xml"
RT_INFO = "zoo"  # rt_info section holding the zoo's metadata


def write_openvino(named, path) -> None:
    import openvino as ov

    from zoo.formats.onnx_format import write_onnx
    from zoo.formats.tensorflow_formats import serving_function

    with tempfile.TemporaryDirectory() as folder:
        onnx_path = pathlib.Path(folder) / "model.onnx"
        write_onnx(named, onnx_path)
        try:
            model = ov.convert_model(str(onnx_path))
            outputs = list(model.outputs)  # the ONNX graph's outputs, in manifest order
        except Exception:  # OpConversionFailure on Loop: read the TensorFlow graph instead
            model = ov.convert_model(serving_function(named).get_concrete_function())
            outputs = [next(o for o in model.outputs if name in o.get_names()) for name in named.output_names]
    for output, name in zip(outputs, named.output_names):
        # Added, not set: an output passed through from an input (a context state) keeps
        # the input's name too.
        output.get_tensor().add_names({name})
    path.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(path / MODEL_XML), compress_to_fp16=False)


def load_openvino(path, spec):
    import openvino as ov

    core = ov.Core()
    # float32: on CPUs with bfloat16 units (AMX, AVX512-BF16) the CPU plugin computes in
    # bfloat16 by default, 2e-2 off Keras's logits.
    compiled = core.compile_model(core.read_model(str(pathlib.Path(path) / MODEL_XML)), "CPU",
                                  {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    inputs = [i["name"] for i in spec["inputs"]]
    ports = [compiled.output(o["name"]) for o in spec["outputs"]]

    def run(arrays):
        result = request.infer(dict(zip(inputs, arrays)))
        return [np.array(result[port]) for port in ports]  # copies: the request reuses its buffers

    return run


def describe_openvino(path, metadata: dict) -> None:
    """Write `metadata` (str -> str) into the model's ``rt_info`` under ``zoo``
    (``ov.Core().read_model(xml).get_rt_info()``)."""
    import openvino as ov

    xml = pathlib.Path(path) / MODEL_XML
    model = ov.Core().read_model(str(xml))
    for key, value in metadata.items():
        model.set_rt_info(value, [RT_INFO, key])
    with tempfile.TemporaryDirectory(dir=path) as folder:  # written whole, then swapped in
        ov.save_model(model, str(pathlib.Path(folder) / MODEL_XML), compress_to_fp16=False)
        for name in (MODEL_XML, "model.bin"):
            (pathlib.Path(folder) / name).replace(pathlib.Path(path) / name)


def read_metadata(path, prefix: str = "") -> dict:
    """The zoo's metadata of an OpenVINO IR folder (what :func:`describe_openvino` wrote)."""
    import openvino as ov

    model = ov.Core().read_model(str(pathlib.Path(path) / MODEL_XML))
    if not model.has_rt_info(RT_INFO):
        return {}
    return {key: model.get_rt_info([RT_INFO, key]).astype(str) for key in model.get_rt_info()[RT_INFO]
            if key.startswith(prefix)}


def versions() -> dict:
    import openvino

    return {"openvino": openvino.__version__}
