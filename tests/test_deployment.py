"""Deployment formats beyond the default three: LiteRT and OpenVINO for every artifact, int8
variants checked against float32 within the task's budget, files that describe themselves,
refreshed shipped models. The export worker always runs under TensorFlow and these runtimes do
not depend on the backend, so this file runs in the tensorflow pass only (conftest.py)."""

import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo import pretrained
from zoo.cli import main
from zoo.export import export_run
from zoo.formats import litert_format, openvino_format
from zoo.manifest import METADATA_PREFIX

from conftest import DATA, REPO, require_data, require_recipe_data, subprocess_env

SAVED = REPO + "/saved_models"
SAVED_PATH = pathlib.Path(SAVED)
EXACT = ("onnx", "savedmodel", "litert", "openvino")
INT8 = ("onnx-int8", "litert-int8")
ALL = ("keras", "savedmodel", "onnx", "litert", "openvino")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Three shipped models (an adder, a seq2seq model, a language model) exported in the five
    formats and their int8 variants."""
    root = tmp_path_factory.mktemp("deploy")
    names = ["simple_rnn_binary_addition", "seq2seq_word_pairs"]
    if DATA["jaychou_lyrics"].exists():
        names.append("char_lm_lyrics")
    out = {}
    for name in names:
        out[name] = export_run(f"{SAVED}/{name}", formats=(*ALL, *INT8), out=root / name)
    return out


def manifest_of(folder):
    return json.loads((folder / "manifest.json").read_text("utf-8"))


@pytest.mark.parametrize("name", ["simple_rnn_binary_addition", "seq2seq_word_pairs", "char_lm_lyrics"])
def test_every_artifact_exports_to_five_formats_and_int8_verified(exports, name):
    if name not in exports:
        require_data("jaychou_lyrics")
    folder = exports[name]
    manifest = manifest_of(folder)
    assert manifest["formats"] == [*ALL, *INT8]
    report = manifest["verification"]
    for fmt in ALL:
        assert set(report["max_abs_diff"][fmt]) == set(manifest["artifacts"])
        assert max(report["max_abs_diff"][fmt].values()) <= 1e-5
    for artifact in manifest["artifacts"]:
        assert (folder / "litert" / f"{artifact}.tflite").is_file()
        assert (folder / "litert" / f"{artifact}.int8.tflite").is_file()
        assert (folder / "onnx" / f"{artifact}.int8.onnx").is_file()
        assert (folder / "openvino" / artifact / "model.xml").is_file()
        assert (folder / "openvino" / artifact / "model.bin").is_file()
    assert set(report["metric"]["artifacts"]) == set(EXACT)
    for value in report["metric"]["artifacts"].values():
        assert abs(value - report["metric"]["keras"]) <= 1e-3
    assert set(report["int8"]) == set(INT8)
    for cost in report["int8"].values():
        assert cost["cost"] <= cost["budget"] and cost["examples"] > 0
        assert cost["float32"] == report["metric"]["keras"]
    for key in ("ai-edge-litert", "openvino", "onnxruntime"):
        assert key in manifest["versions"]["export"]


def int8_weight_ranges(path) -> dict:
    """{initializer: (min, max)} of every int8 tensor of an ONNX file, subgraphs included."""
    import onnx
    from onnx import numpy_helper

    def graphs(graph):
        yield graph
        for node in graph.node:
            for attribute in node.attribute:
                for sub in [attribute.g] if attribute.HasField("g") else attribute.graphs:
                    yield from graphs(sub)

    return {tensor.name: (int(array.min()), int(array.max()))
            for graph in graphs(onnx.load(str(path)).graph) for tensor in graph.initializer
            if tensor.data_type == onnx.TensorProto.INT8 and (array := numpy_helper.to_array(tensor)).size}


def test_onnx_int8_weights_fit_seven_bits_so_every_cpu_computes_them_exactly(exports):
    """onnxruntime's x86 kernels without VNNI sum uint8 x int8 pairs in int16: weights beyond
    [-64, 64] saturate there and the figures depend on the CPU. Every int8 file, exported here
    or shipped, keeps them in range."""
    files = [*(SAVED_PATH.glob("*/export/onnx/*.int8.onnx")),
             *(f for folder in exports.values() for f in (folder / "onnx").glob("*.int8.onnx"))]
    assert len(files) >= 20
    quantized = 0
    for path in files:
        for name, (low, high) in int8_weight_ranges(path).items():
            assert -64 <= low and high <= 64, (str(path), name, low, high)
            quantized += 1
    assert quantized >= 50


@pytest.mark.parametrize("engine", [*EXACT, *INT8])
def test_every_engine_answers_through_the_command_line(exports, engine, capsys):
    assert main(["predict", str(exports["simple_rnn_binary_addition"]), "23+42", "2000000000+147483647",
                 "--engine", engine]) == 0
    assert capsys.readouterr().out.split() == ["65", "2147483647"]
    assert main(["translate", str(exports["seq2seq_word_pairs"]), "man", "king", "--beam", "3", "--engine", engine]) == 0
    assert capsys.readouterr().out.splitlines() == ["man\twomen", "king\tqueen"]


def test_litert_and_openvino_stream_text_as_onnx_does(exports):
    if "char_lm_lyrics" not in exports:
        require_data("jaychou_lyrics")
    folder = exports["char_lm_lyrics"]
    texts = {engine: zoo.load(folder, engine).generate(["分开", "我"], 30, temperature=0.8, seed=1)
             for engine in ("onnx", "litert", "openvino")}
    assert texts["litert"] == texts["onnx"] and texts["openvino"] == texts["onnx"]


def test_each_file_says_what_it_is_and_a_client_decodes_with_that_alone(exports):
    """Every artifact of every format carries the zoo's metadata; an onnxruntime client that
    reads nothing but the step file greedily continues a text as zoo does."""
    import onnxruntime

    folder = exports["seq2seq_word_pairs"]
    manifest = manifest_of(folder)
    for artifact in manifest["artifacts"]:
        found = {
            "onnx": onnxruntime.InferenceSession(str(folder / "onnx" / f"{artifact}.onnx")).get_modelmeta()
            .custom_metadata_map,
            "onnx-int8": onnxruntime.InferenceSession(str(folder / "onnx" / f"{artifact}.int8.onnx")).get_modelmeta()
            .custom_metadata_map,
            "litert": litert_format.read_metadata(folder / "litert" / f"{artifact}.tflite", METADATA_PREFIX),
            "openvino": openvino_format.read_metadata(folder / "openvino" / artifact, METADATA_PREFIX),
        }
        for fmt, metadata in found.items():
            assert metadata["zoo.task"] == manifest["task"] and metadata["zoo.artifact"] == artifact, fmt
            assert json.loads(metadata["zoo.inputs"]) == manifest["artifacts"][artifact]["inputs"], fmt
            assert json.loads(metadata["zoo.vocab"]) == manifest["vocab"], fmt
            assert json.loads(metadata["zoo.decoding"]) == manifest["decoding"], fmt
            assert metadata["zoo.version"] == zoo.__version__ and metadata["zoo.format_version"] == "1", fmt
            assert metadata["zoo.conventions"], fmt

    adder = exports["simple_rnn_binary_addition"]
    session = onnxruntime.InferenceSession(str(adder / "onnx" / "step.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["zoo.task"] == "binary_addition" and meta["zoo.artifact"] == "step"
    inputs, outputs = json.loads(meta["zoo.inputs"]), json.loads(meta["zoo.outputs"])
    a, b, width = 2_000_000_000, 147_483_647, 40
    states = {i["name"]: np.zeros((1, i["shape"][-1]), i["dtype"]) for i in inputs[1:]}
    bits = []
    for step in range(width):  # one pair of operand bits a step, least significant first
        frame = np.array([[[(a >> step) & 1, (b >> step) & 1]]], dtype=inputs[0]["dtype"])
        result = dict(zip([o["name"] for o in outputs], session.run(None, {inputs[0]["name"]: frame, **states})))
        bits.append(int(result["logits"][0].argmax()))
        states = {name: result[f"next_{name}"] for name in states}
    assert sum(bit << i for i, bit in enumerate(bits)) == a + b


def test_a_runtime_not_installed_is_a_one_line_error(exports, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    assert main(["predict", str(exports["simple_rnn_binary_addition"]), "1+1", "--engine", "litert"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "keras-rnn-zoo[litert]" in err


def test_quantize_needs_a_format_with_an_int8_variant(tmp_path, capsys):
    assert main(["export", f"{SAVED}/simple_rnn_binary_addition", "--format", "openvino", "--quantize", "int8",
                 "--out", str(tmp_path / "e")]) == 2
    assert "--quantize int8: none of openvino has an int8 variant" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("name", sorted(pretrained.shipped()))
def test_every_shipped_model_carries_int8_files_whose_figures_hold(name):
    """The shipped ONNX int8 files: their cost, measured on the whole evaluation split when
    shipped, within the task's budget; their check-slice figures re-measured here."""
    require_recipe_data(name)
    card = json.loads((pretrained.models_dir() / name / "card.json").read_text("utf-8"))
    assert "onnx-int8" in card["export"]["formats"]
    cost = card["export"]["verification"]["int8"]["onnx-int8"]
    assert cost["cost"] <= cost["budget"]
    check = card["check"]
    measured = zoo.load(name, engine="onnx-int8").evaluate(limit=check["examples"])
    for metric, value in check["onnx-int8"].items():
        assert abs(measured[metric] - value) <= check["tolerance"], (metric, measured[metric], value)


def test_refresh_remakes_the_export_and_card_and_keeps_the_figures(tmp_path):
    """`zoo ship --refresh` on a copy of a shipped model: the int8 variant added, the card's
    front matter written, every file listed again; the model and its figures unchanged."""
    import yaml

    folder = tmp_path / "seq2seq_word_pairs"
    shutil.copytree(f"{SAVED}/seq2seq_word_pairs", folder)
    before = json.loads((folder / "card.json").read_text("utf-8"))
    result = subprocess.run([sys.executable, "-m", "zoo", "ship", "--refresh", str(folder), "--quantize", "int8"],
                            env=subprocess_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    after = json.loads((folder / "card.json").read_text("utf-8"))
    for key in ("metrics", "validation", "samples", "training", "model_options"):
        assert after[key] == before[key], key
    assert after["check"] == {**before["check"], "onnx-int8": after["check"]["onnx-int8"]}
    assert after["files"]["model.keras"] == before["files"]["model.keras"]
    assert after["export"]["formats"] == ["onnx", "onnx-int8"]
    assert pretrained.check_files(folder) == []
    matter = yaml.safe_load((folder / "README.md").read_text("utf-8").split("---\n")[1])
    assert "onnx-int8" in matter["tags"]
    assert "`onnx-int8`" in (folder / "README.md").read_text("utf-8")
    assert zoo.load(folder, "onnx-int8").translate("man") == "women"


@pytest.mark.parametrize("fmt", ["litert", "openvino"])
def test_the_generator_whose_pixels_see_their_left_neighbours_converts(fmt, tmp_path):
    """The pixel decoder folds a picture's rows into the batch of its pixel LSTM: LiteRT's
    recurrent loops need that size static (pictures of a fixed height), and every artifact,
    ``pixel_step`` included, must answer as Keras does."""
    from zoo import formats
    from zoo.manifest import io_spec
    from zoo.registry import create_model
    from zoo.tasks.base import artifact_models

    models = artifact_models("lstm_generator", create_model("lstm_generator", "tiny", pixels="left_to_right"))
    assert sorted(models) == ["encoder", "model", "pixel_step", "step"]
    rng = np.random.default_rng(0)
    for name, named in models.items():
        inputs = {input_name: (rng.integers(0, 10, size=(2,)).astype("int32") if "int" in str(tensor.dtype)
                               else rng.random((2, *tensor.shape[1:]), dtype=np.float32))
                  for input_name, tensor in zip(named.input_names, named.model.inputs)}
        expected = list(named.run(inputs).values())  # called once before writing, as an export does
        path = tmp_path / formats.get_format(fmt).path(name)
        formats.write(fmt, named, path)
        got = formats.load(fmt, path, io_spec(named))(list(inputs.values()))
        for want, value in zip(expected, got):
            np.testing.assert_allclose(value, np.asarray(want), atol=1e-5)
