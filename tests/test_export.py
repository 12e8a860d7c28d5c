"""Export a run trained under this pass's backend; verify, load without keras, refuse tampering."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from zoo.cli import main
from zoo.export import export_run
from zoo.recipe import load_recipe
from zoo.runtime import ExportError, ExportedModel
from zoo.training import train

from conftest import DATA

FASHION_TEST = DATA["fashion_mnist"] / "t10k-images-idx3-ubyte.gz"
LYRICS = DATA["jaychou_lyrics"]


def zoo(*args):
    return main(["--backend", keras.backend.backend(), *map(str, args)])


@pytest.fixture(scope="module")
def exports(tmp_path_factory, word_pairs_run):
    """One run per task, trained here (this backend), each exported in all three formats."""
    root = tmp_path_factory.mktemp("exports")
    shutil.copytree(word_pairs_run, root / "pairs")
    runs = {"seq2seq": root / "pairs"}
    if FASHION_TEST.exists():
        train(load_recipe("lstm_fashion_mnist").replace(preset="tiny", epochs=1), out_dir=root / "fashion",
              limit=200, verbose=0)
        runs["classification"] = root / "fashion"
    if LYRICS.exists():
        train(load_recipe("char_lm_lyrics").replace(preset="tiny", epochs=1, batch_size=8), out_dir=root / "lyrics",
              limit=100, verbose=0)
        runs["language_model"] = root / "lyrics"
    for run in runs.values():
        export_run(run)
    return runs


def export_of(exports, task):
    if task not in exports:
        pytest.skip(f"the data for the {task} run is absent (dataset-fashion-mnist / ../shared/data)")
    return exports[task] / "export"


@pytest.mark.parametrize("task", ["classification", "language_model", "seq2seq"])
def test_export_holds_verified_artifacts_in_three_formats(exports, task):
    folder = export_of(exports, task)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["training_backend"] == keras.backend.backend()
    expected = {"classification": {"model"}, "language_model": {"model", "step"},
                "seq2seq": {"model", "encoder", "decoder_step"}}[task]
    assert set(manifest["artifacts"]) == expected
    for artifact in expected:
        assert (folder / "onnx" / f"{artifact}.onnx").is_file()
        assert (folder / "savedmodel" / artifact / "saved_model.pb").is_file()
        assert (folder / "keras" / f"{artifact}.keras").is_file()
        assert manifest["artifacts"][artifact]["inputs"][0]["shape"][0] is None  # dynamic batch
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"]
    assert sorted(str(p.relative_to(folder)) for p in files) == sorted(manifest["files"])
    report = manifest["verification"]
    for fmt in ("onnx", "savedmodel", "keras"):
        assert set(report["max_abs_diff"][fmt]) == expected
        assert max(report["max_abs_diff"][fmt].values()) <= 1e-5
    for value in report["metric"]["artifacts"].values():
        assert abs(value - report["metric"]["keras"]) <= 1e-3
    if task == "language_model":
        assert all(v["greedy_200_identical"] for v in report["generation"].values())
    # The artifacts agree with the logits the training backend itself computed (reference.npz).
    assert set(report["training_backend"]) == {"keras (tensorflow)", "onnx", "savedmodel"}
    assert max(report["training_backend"].values()) <= 1e-5
    assert report["data"].startswith("present")
    for key in ("keras", "tensorflow", "onnx", "onnxruntime"):
        assert key in manifest["versions"]["export"]
    assert manifest["versions"]["training"]["keras"] == keras.__version__


def test_onnx_checker_passes_and_batch_is_dynamic(exports):
    import onnx
    import onnxruntime

    folder = export_of(exports, "seq2seq")
    onnx.checker.check_model(str(folder / "onnx" / "encoder.onnx"))
    session = onnxruntime.InferenceSession(str(folder / "onnx" / "encoder.onnx"))
    for batch in (1, 5):
        states = session.run(None, {"source_tokens": np.zeros((batch, 5), dtype=np.int32)})
        assert [s.shape for s in states] == [(batch, 64), (batch, 64)]
    assert [o.name for o in session.get_outputs()] == ["state_h_1", "state_c_1"]


def test_savedmodel_serving_signature_is_named(exports):
    import tensorflow as tf

    signature = tf.saved_model.load(str(export_of(exports, "seq2seq") / "savedmodel" / "decoder_step")).signatures[
        "serving_default"]
    assert set(signature.structured_input_signature[1]) == {"token", "state_h_1", "state_c_1"}
    assert set(signature.structured_outputs) == {"logits", "next_state_h_1", "next_state_c_1"}


@pytest.mark.parametrize("engine", ["onnx", "savedmodel"])
def test_translate_from_the_export(exports, engine, capsys):
    folder = export_of(exports, "seq2seq")
    for beam in ("1", "3"):
        assert zoo("translate", folder, "man", "king", "up", "--beam", beam, "--engine", engine) == 0
        assert capsys.readouterr().out.splitlines() == ["man\twomen", "king\tqueen", "up\tdown"]


def test_generate_from_the_export_matches_the_run(exports, capsys):
    run = exports.get("language_model") or pytest.skip("lyrics absent")
    args = ["--prompt", "分开", "--length", "40", "--seed", "3", "--top-k", "5"]
    assert zoo("generate", run, "--engine", "keras", *args) == 0
    from_keras = capsys.readouterr().out
    assert zoo("generate", run / "export", *args) == 0
    assert capsys.readouterr().out == from_keras


def test_seq2seq_with_the_context_at_every_step_exports_and_translates_alike(tmp_path, capsys):
    """The decoder step that carries the context as a state exports to all three formats,
    verifies, and translates as the Keras run does."""
    recipe = load_recipe("seq2seq_addition").replace(preset="tiny", epochs=3, batch_size=32,
                                                     model_options={"context": "every_step"})
    run = tmp_path / "run"
    train(recipe, out_dir=run, limit=600, verbose=0)
    export_run(run)
    capsys.readouterr()
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    assert "state_context" in [i["name"] for i in manifest["artifacts"]["decoder_step"]["inputs"]]
    sources = ["12+7", "999+999", "0+0"]
    answers = []
    for target, engine in ((run, "keras"), (run / "export", "onnx"), (run / "export", "savedmodel")):
        assert zoo("translate", target, *sources, "--beam", "2", "--engine", engine) == 0
        answers.append(capsys.readouterr().out)
    assert answers[0] == answers[1] == answers[2] and len(answers[0].splitlines()) == 3
    # Through each exported engine, the step returns the context unchanged and reads it: a
    # different context with the same token and LSTM states moves the logits.
    units = manifest["artifacts"]["decoder_step"]["inputs"]
    rng = np.random.default_rng(0)
    inputs = {u["name"]: rng.normal(size=(2, u["shape"][-1])).astype("float32") for u in units if u["name"] != "token"}
    inputs["token"] = np.array([[1], [2]], dtype="int32")
    for engine in ("onnx", "savedmodel"):
        step = ExportedModel(run / "export", engine)
        out = step.run("decoder_step", inputs)
        np.testing.assert_allclose(out["next_state_context"], inputs["state_context"], atol=1e-6)
        moved = step.run("decoder_step", {**inputs, "state_context": -inputs["state_context"]})["logits"]
        assert np.abs(moved - out["logits"]).max() > 1e-4, engine


def test_predict_reads_npy_idx_and_png(exports, tmp_path, capsys):
    from PIL import Image

    folder = export_of(exports, "classification")
    images = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28)).astype(np.uint8)
    np.save(tmp_path / "x.npy", images)
    for i, image in enumerate(images):
        Image.fromarray(image, mode="L").save(tmp_path / f"{i}.png")
    assert zoo("predict", folder, tmp_path / "x.npy", "--json") == 0
    from_npy = json.loads(capsys.readouterr().out)
    # Noise has no light-or-dark background to go by: --invert no keeps the pixels as they are.
    assert zoo("predict", folder, *(tmp_path / f"{i}.png" for i in range(3)), "--json", "--invert", "no") == 0
    assert json.loads(capsys.readouterr().out) == from_npy
    first = from_npy["predictions"][0]
    assert len(from_npy["predictions"]) == 3 and abs(sum(first["probabilities"]) - 1) < 1e-4
    assert from_npy["classes"][first["class_id"]] == first["class"]  # class names, not indices
    assert zoo("predict", folder, tmp_path / "0.png", "--invert", "no") == 0
    name, probability = capsys.readouterr().out.rsplit(" ", 1)  # "Ankle boot 0.31"
    assert name == first["class"] and float(probability) == round(first["probability"], 2)
    assert zoo("predict", folder, FASHION_TEST, "--engine", "savedmodel") == 0
    assert len(capsys.readouterr().out.splitlines()) == 10000


def test_runtime_needs_no_keras_and_no_training_code(exports, python_env):
    folder = export_of(exports, "seq2seq")
    code = (
        "import sys\n"
        "sys.modules['keras'] = None  # importing keras now fails\n"
        "from zoo.cli import main\n"
        f"code = main(['translate', {str(folder)!r}, 'girl', 'high'])\n"
        "assert code == 0, code\n"
        "leaked = [m for m in ('keras', 'zoo.training', 'zoo.tasks.datasets', 'zoo.models', 'zoo.export') if sys.modules.get(m)]\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=python_env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["girl\tboy", "high\tlow"]


def test_a_tampered_file_is_refused(exports, tmp_path, capsys):
    folder = tmp_path / "export"
    shutil.copytree(export_of(exports, "seq2seq"), folder)
    with open(folder / "onnx" / "decoder_step.onnx", "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    assert zoo("translate", folder, "man") == 2
    err = capsys.readouterr().err
    assert "decoder_step.onnx: sha256 differs" in err and err.count("\n") == 1
    (folder / "savedmodel" / "encoder" / "extra.txt").write_text("x")
    with pytest.raises(ExportError, match="not in the manifest"):
        ExportedModel(folder, "savedmodel").run("encoder", {"source_tokens": np.zeros((1, 5), np.int32)})


def test_export_needs_no_data(exports, tmp_path):
    run = exports.get("language_model") or pytest.skip("lyrics absent")
    out = export_run(run, out=tmp_path / "export", formats=("onnx",), data_dir=tmp_path / "nowhere")
    report = json.loads((out / "manifest.json").read_text())["verification"]
    assert report["data"].startswith("absent") and report["metric"] is None
    assert max(report["training_backend"].values()) <= 1e-5
    assert report["generation"]["onnx"]["greedy_200_identical"]


def test_failed_verification_publishes_nothing(exports, capfd):
    from zoo.errors import ReportedError

    run = exports["seq2seq"]
    before = (run / "export" / "manifest.json").read_bytes()
    with pytest.raises(ReportedError):
        export_run(run, formats=("onnx",), tolerance=-1.0)  # every comparison now fails
    err = capfd.readouterr().err  # printed by the export subprocess
    assert "verification failed" in err and "nothing was published" in err
    assert (run / "export" / "manifest.json").read_bytes() == before
    assert not [p for p in run.iterdir() if p.name.startswith(".export")]


def test_lambda_layer_is_refused_in_safe_mode(exports, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(exports["seq2seq"], run, ignore=shutil.ignore_patterns("export"))
    inputs = keras.Input(shape=(3,))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(run / "model.keras")
    assert zoo("evaluate", run) == 2
    assert "safe_mode" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["translate", "PAIRS", "xyz"], "character 'x' is not in the model's vocabulary"),
        (["generate", "PAIRS", "--prompt", "a"], "is a seq2seq model; it answers zoo translate"),
        (["predict", "PAIRS", "NPY"], "zoo predict: "),
        (["translate", "/nonexistent", "a"], "not a run or export folder, nor a shipped model"),
        (["export", "/nonexistent"], "not a finished run folder"),
        (["export", "PAIRS_RUN", "--format", "pickle"], "--format 'pickle'"),
    ],
)
def test_export_cli_errors_are_one_line(exports, tmp_path, args, message, capfd):
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28), np.float32))
    paths = {"PAIRS": exports["seq2seq"] / "export", "PAIRS_RUN": exports["seq2seq"], "NPY": tmp_path / "x.npy"}
    assert zoo(*[paths.get(a, a) for a in args]) == 2
    err = capfd.readouterr().err
    err = "".join(line + "\n" for line in err.splitlines() if line.startswith("zoo:"))
    assert message in err and err.count("\n") == 1, err


def test_wrong_input_shape_is_a_clear_error(exports, tmp_path, capsys):
    folder = export_of(exports, "classification")
    np.save(tmp_path / "bad.npy", np.zeros((2, 28, 27), np.float32))
    assert zoo("predict", folder, tmp_path / "bad.npy") == 2
    assert "expected images of shape (28, 28) or (N, 28, 28)" in capsys.readouterr().err
    with pytest.raises(ExportError, match="expected shape"):
        ExportedModel(folder).run("model", {"rows": np.zeros((2, 28, 5), np.float32)})


def test_a_family_added_in_one_file_trains_exports_and_generates(tmp_path, capsys):
    """gru_char_lm is one file in zoo/models (nothing else names it): trained on consecutive
    windows (its carried-state model), exported with its step model (one state per layer,
    by name) and sampled from the export, greedy, as from the run."""
    from zoo.recipe import Recipe

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 60, encoding="utf-8")
    recipe = Recipe(name="gru_text", model="gru_char_lm", task="language_model", preset="tiny", epochs=1,
                    batch_size=4, data={"source": "file", "path": str(corpus), "seq_len": 10, "sampling": "consecutive"})
    run = tmp_path / "run"
    train(recipe, out_dir=run, verbose=0)
    export_run(run)
    manifest = json.loads((run / "export" / "manifest.json").read_text())
    assert [i["name"] for i in manifest["artifacts"]["step"]["inputs"]] == ["token", "state_h_1", "state_h_2"]
    assert [o["name"] for o in manifest["artifacts"]["step"]["outputs"]] == ["logits", "next_state_h_1", "next_state_h_2"]
    capsys.readouterr()
    args = ["--prompt", "the ", "--length", "40", "--temperature", "0"]
    assert zoo("generate", run / "export", *args) == 0
    from_export = capsys.readouterr().out
    assert zoo("generate", run, "--engine", "keras", *args) == 0
    assert capsys.readouterr().out == from_export and from_export.startswith("the ")
    # Several prompts go through in one batch; greedy rows equal their solo runs.
    assert zoo("generate", run / "export", "--prompt", "the ", "--prompt", "lazy dog", "--length", "40",
               "--temperature", "0") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == from_export.rstrip("\n") and lines[1].startswith("lazy dog") and len(lines) == 2
    assert zoo("generate", run, "--engine", "keras", "--prompt", "the ", "--prompt", "lazy dog", "--length", "40", "--temperature", "0") == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_ship_makes_a_compact_checked_folder_with_a_card(exports, tmp_path, capsys):
    """`zoo ship`: weights without optimizer state, a verified ONNX export, the check figures
    through Keras and ONNX, a card listing every file; loadable by folder; tampering shows."""
    from zoo import pretrained

    run = exports.get("classification") or pytest.skip("dataset-fashion-mnist absent")
    shipped = tmp_path / "shipped"
    assert zoo("ship", run, "--out", shipped) == 0
    card = json.loads((shipped / "card.json").read_text())
    assert pretrained.check_files(shipped) == []
    assert sorted(p.name for p in (shipped / "export" / "onnx").iterdir()) == ["model.onnx"]
    assert (shipped / "model.keras").stat().st_size < (run / "model.keras").stat().st_size  # no optimizer moments
    assert card["check"]["examples"] == 2000 and set(card["check"]) >= {"keras", "onnx"}
    assert abs(card["check"]["keras"]["test_accuracy"] - card["check"]["onnx"]["test_accuracy"]) <= 0.002
    assert len(card["samples"]) == 8 and card["samples"][0]["label"] == "Ankle boot"
    text = (shipped / "README.md").read_text()
    assert "## Intended use and limits" in text and f"zoo --backend {keras.backend.backend()} train" in text
    for engine in ("keras", "onnx"):
        again = zoo_load(shipped, engine).evaluate(limit=2000)
        assert again["test_accuracy"] == pytest.approx(card["check"][engine]["test_accuracy"], abs=1e-6)
    (shipped / "notes.txt").write_text("x")
    with open(shipped / "export" / "onnx" / "model.onnx", "ab") as f:
        f.write(b"\0")
    problems = pretrained.check_files(shipped)
    assert problems == ["notes.txt: not listed in card.json", "export/onnx/model.onnx: sha256 differs from card.json"]
    assert zoo("ship", run, "--out", run) == 2  # never over the run itself
    assert "the run folder itself" in capsys.readouterr().err


def zoo_load(folder, engine):
    from zoo.pretrained import load

    return load(folder, engine)
