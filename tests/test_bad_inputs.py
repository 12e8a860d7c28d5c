"""A catalogue of bad input, run in-process through the `zoo` entry point: each case exits with
code 2, prints exactly one line on stderr (``zoo: error: ...``, no traceback), and changes no
file in the folders it touches. The Python API refuses the same inputs with the zoo's error
(a ValueError) and, where the CLI has the same case, the same message."""

import gzip
import json
import pathlib
import shutil
import struct
import zlib

import keras
import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.errors import ZooError
from zoo.recipe import load_recipe
from zoo.training import train

from conftest import REPO

BACKEND = keras.backend.backend()


def snapshot(*folders) -> dict:
    return {str(p): p.read_bytes() for folder in folders for p in sorted(pathlib.Path(folder).rglob("*"))
            if p.is_file()}


def idx_bytes(array: np.ndarray, *, dims=None) -> bytes:
    dims = array.shape if dims is None else dims
    return b"\0\0\x08" + bytes([len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + array.astype(np.uint8).tobytes()


def write_idx_dir(folder: pathlib.Path, *, train=12, test=4, **replace) -> pathlib.Path:
    """Four small valid Fashion-MNIST-style IDX files; `replace` swaps one file's bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (train, 28, 28))),
        "train-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, train)),
        "t10k-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (test, 28, 28))),
        "t10k-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, test)),
    }
    files.update(replace)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def png_bytes(width, height, *, bit_depth=8, color_type=0, pixels=None) -> bytes:
    """A PNG written by hand, so its header can say anything (a 16-bit image, a bomb's size)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(width * bit_depth // 8)
    raw = pixels if pixels is not None else b"".join(b"\0" + row for _ in range(min(height, 28)))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


MANIFESTS = {
    "classification": {
        "format_version": 1, "task": "classification", "files": {}, "vocab": None, "decoding": None,
        "artifacts": {"model": {"inputs": [{"name": "rows", "shape": [None, 28, 28], "dtype": "float32"}],
                                "outputs": [{"name": "logits", "shape": [None, 10], "dtype": "float32"}]}},
    },
    "language_model": {
        "format_version": 1, "task": "language_model", "files": {}, "decoding": None,
        "vocab": {"kind": "characters", "chars": list("abc ")},
        "artifacts": {
            "model": {"inputs": [{"name": "tokens", "shape": [None, None], "dtype": "int32"}],
                      "outputs": [{"name": "logits", "shape": [None, None, 4], "dtype": "float32"}]},
            "step": {"inputs": [{"name": "token", "shape": [None, 1], "dtype": "int32"},
                                {"name": "state_h_1", "shape": [None, 8], "dtype": "float32"},
                                {"name": "state_c_1", "shape": [None, 8], "dtype": "float32"}],
                     "outputs": [{"name": "logits", "shape": [None, 4], "dtype": "float32"},
                                 {"name": "next_state_h_1", "shape": [None, 8], "dtype": "float32"},
                                 {"name": "next_state_c_1", "shape": [None, 8], "dtype": "float32"}]}},
    },
}
MANIFESTS["seq2seq"] = {
    "format_version": 1, "task": "seq2seq", "files": {},
    "vocab": {"kind": "seq2seq", "chars": ["?", "S", "E", *"0123456789+"]},
    "decoding": {"source_len": 7, "target_len": 5, "reverse_source": False},
    "artifacts": {
        "model": {"inputs": [{"name": "source_tokens", "shape": [None, None], "dtype": "int32"},
                             {"name": "decoder_tokens", "shape": [None, None], "dtype": "int32"}],
                  "outputs": [{"name": "logits", "shape": [None, None, 14], "dtype": "float32"}]},
        "encoder": MANIFESTS["language_model"]["artifacts"]["step"] | {
            "inputs": [{"name": "source_tokens", "shape": [None, None], "dtype": "int32"}]},
        "decoder_step": MANIFESTS["language_model"]["artifacts"]["step"],
    },
}


def edited(task, edit):
    manifest = json.loads(json.dumps(MANIFESTS[task]))
    edit(manifest)
    return manifest


@pytest.fixture(scope="module")
def world(tmp_path_factory, word_pairs_run):
    """The files the cases point at: finished runs, fake exports, bad inputs of every kind."""
    root = tmp_path_factory.mktemp("bad_inputs")
    corpus = root / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 20, encoding="utf-8")
    lm_run = root / "lm_run"
    train(load_recipe("char_lm_lyrics").replace(preset="tiny", epochs=1, batch_size=4,
                                                data={"source": "file", "path": str(corpus), "seq_len": 10,
                                                      "sampling": "random"}),
          out_dir=lm_run, verbose=0)
    paths = {"RUN": word_pairs_run, "LM_RUN": lm_run, "CORPUS": corpus}

    def add(name, data, *, binary=True):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data) if binary else path.write_text(data, encoding="utf-8")
        paths[name.upper().replace(".", "_").replace("/", "_")] = path
        return path

    for task, manifest in MANIFESTS.items():
        add(f"export_{task}/manifest.json", json.dumps(manifest).encode())
        paths[f"EXPORT_{task.upper()}"] = root / f"export_{task}"
    manifest_edits = {
        "task": ("classification", lambda m: m.update(task="regression")),
        "no_model": ("classification", lambda m: m["artifacts"].pop("model")),
        "dtype": ("classification", lambda m: m["artifacts"]["model"]["inputs"][0].update(dtype="string")),
        "dtype_bogus": ("classification", lambda m: m["artifacts"]["model"]["inputs"][0].update(dtype="float99")),
        "shape": ("classification", lambda m: m["artifacts"]["model"]["inputs"][0].update(shape=[None, -28, 28])),
        "inputs_empty": ("classification", lambda m: m["artifacts"]["model"].update(inputs=[])),
        "input_name": ("classification", lambda m: m["artifacts"]["model"]["inputs"][0].update(name=7)),
        "files": ("classification", lambda m: m.update(files=["model.onnx"])),
        "vocab_kind": ("language_model", lambda m: m["vocab"].update(kind="words")),
        "vocab_chars": ("language_model", lambda m: m["vocab"].update(chars="abc ")),
        "vocab_size": ("language_model", lambda m: m["vocab"].update(chars=list("abcdef"))),
        "vocab_dup": ("language_model", lambda m: m["vocab"].update(chars=list("aabc"))),
        "vocab_missing": ("language_model", lambda m: m.pop("vocab")),
        "decoding": ("seq2seq", lambda m: m.pop("decoding")),
        "decoding_len": ("seq2seq", lambda m: m["decoding"].update(source_len="7")),
    }
    for name, (task, edit) in manifest_edits.items():
        add(f"manifest_{name}/manifest.json", json.dumps(edited(task, edit)).encode())
    add("manifest_not_json/manifest.json", b"{not json")
    add("manifest_list/manifest.json", b"[1, 2]")

    images = np.zeros((2, 28, 28), np.float32)
    with_nan = images.copy()
    with_nan[0, 3, 3] = np.nan
    for name, array in {"nan.npy": with_nan, "zero_rows.npy": np.zeros((0, 28, 28), np.float32),
                        "wrong_shape.npy": np.zeros((2, 28, 27), np.float32),
                        "negative.npy": images - 1, "large.npy": images + 2,
                        "inf.npy": images + np.inf, "int64.npy": np.zeros((1, 28, 28), np.int64) + 300,
                        "strings.npy": np.array([["a"] * 28] * 28), "scalar.npy": np.float32(0.5)}.items():
        buffer = root / name
        np.save(buffer, array)
        paths[name.upper().replace(".", "_")] = buffer
    add("empty.npy", b"")
    add("garbage.npy", b"\x93NUMPY garbage")
    np.savez(root / "archive.npz", images)
    paths["ARCHIVE_NPZ"] = root / "archive.npz"
    add("image.txt", b"28x28")
    add("gray16.png", png_bytes(28, 28, bit_depth=16))
    add("bomb.png", png_bytes(50000, 50000, pixels=b"\0"))
    add("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    add("corrupt.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 40)
    add("text.jpg", b"not a picture")
    add("bad_magic-idx3-ubyte", b"\x01\x02\x08\x03" + b"\0" * 12)
    add("overflow-idx3-ubyte", b"\0\0\x08\x03" + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1))
    add("truncated-idx3-ubyte.gz", gzip.compress(idx_bytes(np.zeros((2, 28, 28)))[:-10]))
    add("not_gzip-idx3-ubyte.gz", b"plain bytes")
    add("empty.txt", "   \n", binary=False)
    add("single.txt", "a" * 500, binary=False)
    add("latin1.txt", "caf\xe9 au lait".encode("latin-1"))
    add("notes/todo.txt", "precious", binary=False)
    paths["NOTES"] = root / "notes"
    add("a_file", b"precious")
    add("drawn.png", b"a picture drawn earlier")
    paths["EXISTING_PNG"] = root / "drawn.png"
    paths["DIR"] = root

    good = write_idx_dir(root / "idx_good")
    paths["IDX_GOOD"] = good
    zero = np.zeros((0, 28, 28))
    idx_cases = {
        "idx_no_test": {"t10k-images-idx3-ubyte": idx_bytes(zero), "t10k-labels-idx1-ubyte": idx_bytes(np.zeros(0))},
        "idx_no_train": {"train-images-idx3-ubyte": idx_bytes(zero), "train-labels-idx1-ubyte": idx_bytes(np.zeros(0))},
        "idx_overflow": {"train-images-idx3-ubyte": b"\0\0\x08\x03" + struct.pack(">3I", 2**31, 2**31, 2**31)},
        "idx_labels": {"train-labels-idx1-ubyte": idx_bytes(np.full(12, 11))},
        "idx_label_count": {"train-labels-idx1-ubyte": idx_bytes(np.zeros(5))},
        "idx_shape": {"train-images-idx3-ubyte": idx_bytes(np.zeros((12, 28, 27)))},
        "idx_dtype": {"train-images-idx3-ubyte": b"\0\0\x0d\x03" + struct.pack(">3I", 1, 28, 28) + bytes(4 * 784)},
        "idx_truncated": {"t10k-images-idx3-ubyte": idx_bytes(np.zeros((4, 28, 28)))[:-1]},
    }
    for name, replace in idx_cases.items():
        paths[name.upper()] = write_idx_dir(root / name, **replace)
    missing = write_idx_dir(root / "idx_missing")
    (missing / "t10k-labels-idx1-ubyte").unlink()
    paths["IDX_MISSING"] = missing

    # Runs damaged one file at a time, for zoo ship and zoo evaluate.
    def damaged_run(name, damage):
        run = root / name
        shutil.copytree(word_pairs_run, run, ignore=shutil.ignore_patterns("export"))
        damage(run)
        paths[name.upper()] = run

    damaged_run("run_other_model", lambda run: shutil.copyfile(lm_run / "model.keras", run / "model.keras"))
    damaged_run("run_corrupt_model", lambda run: (run / "model.keras").write_bytes(b"not a zip archive"))
    damaged_run("run_empty_history", lambda run: (run / "history.csv").write_text("epoch,loss\n"))
    damaged_run("run_best_epoch_missing", lambda run: (run / "metrics.json").write_text(
        json.dumps({**json.loads((run / "metrics.json").read_text()), "best_epoch": 999})))
    damaged_run("run_metrics_not_json", lambda run: (run / "metrics.json").write_text("{"))

    # Shipped models with one file changed after shipping: refused on load.
    saved = pathlib.Path(REPO) / "saved_models"

    def tampered(name, source, change):
        folder = root / name
        shutil.copytree(saved / source, folder)
        change(folder)
        paths[name.upper()] = folder

    def flip_last_byte(path):
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))

    def reverse_json_list(path, key=None):
        data = json.loads(path.read_text())
        if key is None:
            data.reverse()
        else:
            data[key].reverse()
        path.write_text(json.dumps(data))

    tampered("shipped_pairs", "seq2seq_word_pairs", lambda folder: None)
    tampered("tampered_model", "seq2seq_word_pairs", lambda folder: flip_last_byte(folder / "model.keras"))
    tampered("tampered_classes", "simple_rnn_fashion_mnist", lambda folder: reverse_json_list(folder / "classes.json"))
    tampered("tampered_manifest", "simple_rnn_fashion_mnist",
             lambda folder: reverse_json_list(folder / "export" / "manifest.json", "classes"))
    tampered("tampered_extra_file", "seq2seq_word_pairs", lambda folder: (folder / "notes.txt").write_text("x"))
    tampered("tampered_missing_file", "seq2seq_word_pairs", lambda folder: (folder / "vocab.json").unlink())
    tampered("tampered_no_card", "simple_rnn_fashion_mnist", lambda folder: (folder / "card.json").unlink())
    return paths


T = ["train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs", "1", "--out", "{DIR}/new_run"]
F = ["train", "lstm_fashion_mnist", "--preset", "tiny", "--epochs", "1", "--out", "{DIR}/new_run", "--data-dir"]
LM = ["train", "char_lm_lyrics", "--preset", "tiny", "--epochs", "1", "--out", "{DIR}/new_run", "--text-file"]
S = ["generate", "{LM_RUN}", "--engine", "keras", "--prompt", "the"]
P = ["predict", "{EXPORT_CLASSIFICATION}"]
G = ["generate", "{EXPORT_LANGUAGE_MODEL}", "--prompt", "ab"]
CASES = {
    # the command line itself
    "unknown command": ["nope"],
    "unknown backend": ["--backend", "theano", "list"],
    "train without recipe": ["train"],
    "unknown recipe": ["train", "nope"],
    "unknown option": ["train", "seq2seq_word_pairs", "--bogus"],
    "predict without inputs": ["predict", "{EXPORT_CLASSIFICATION}"],
    # training options
    "epochs 0": [*T, "--epochs", "0"],
    "epochs negative": [*T, "--epochs", "-3"],
    "epochs not a number": [*T, "--epochs", "many"],
    "batch size 0": [*T, "--batch-size", "0"],
    "learning rate nan": [*T, "--learning-rate", "nan"],
    "learning rate inf": [*T, "--learning-rate", "inf"],
    "learning rate -inf": [*T, "--learning-rate", "-inf"],
    "learning rate negative": [*T, "--learning-rate", "-0.1"],
    "learning rate zero": [*T, "--learning-rate", "0"],
    "learning rate text": [*T, "--learning-rate", "fast"],
    "seed negative": [*T, "--seed", "-1"],
    "seed too large": [*T, "--seed", str(2**32)],
    "seed not a number": [*T, "--seed", "abc"],
    "limit 0": [*T, "--limit", "0"],
    "unknown preset": [*T, "--preset", "huge"],
    "data source on text recipe": [*T, "--data-source", "tfds"],
    "unknown data source": [*F, "{IDX_GOOD}", "--data-source", "csv"],
    "text file on seq2seq": [*T, "--text-file", "{CORPUS}"],
    # where a run goes
    "out is a file": [*T[:-1], "{A_FILE}"],
    "out holds notes": [*T[:-1], "{NOTES}"],
    "out holds notes, overwrite": [*T[:-1], "{NOTES}", "--overwrite"],
    "out under a file": [*T[:-1], "{A_FILE}/run"],
    "out is a finished run": [*T[:-1], "{RUN}"],
    "out is a finished run of another recipe": ["train", "char_lm_lyrics", "--out", "{RUN}"],
    # image data
    "data dir missing": [*F, "{DIR}/nowhere"],
    "data dir is a file": [*F, "{A_FILE}"],
    "IDX file missing": [*F, "{IDX_MISSING}"],
    "IDX zero test images": [*F, "{IDX_NO_TEST}"],
    "IDX zero train images": [*F, "{IDX_NO_TRAIN}"],
    "IDX header dimensions overflow": [*F, "{IDX_OVERFLOW}"],
    "IDX label out of range": [*F, "{IDX_LABELS}"],
    "IDX label count": [*F, "{IDX_LABEL_COUNT}"],
    "IDX image shape": [*F, "{IDX_SHAPE}"],
    "IDX data type": [*F, "{IDX_DTYPE}"],
    "IDX truncated": [*F, "{IDX_TRUNCATED}"],
    "limit leaves validation empty": [*F, "{IDX_GOOD}", "--limit", "2"],
    # text data
    "text file missing": [*LM, "{DIR}/missing.txt"],
    "text file empty": [*LM, "{EMPTY_TXT}"],
    "text file not UTF-8": [*LM, "{LATIN1_TXT}"],
    "text file one distinct character": [*LM, "{SINGLE_TXT}"],
    "text file is a folder": [*LM, "{NOTES}"],
    "text file is binary": [*LM, "{GRAY16_PNG}"],
    "lyrics data dir missing": ["train", "char_lm_lyrics", "--data-dir", "{DIR}/nowhere", "--out", "{DIR}/r"],
    "shakespeare data dir missing": ["train", "char_lm_shakespeare", "--data-dir", "{DIR}/nowhere", "--out",
                                     "{DIR}/r"],
    # reading runs
    "evaluate missing run": ["evaluate", "{DIR}/nowhere"],
    "evaluate a file": ["evaluate", "{A_FILE}"],
    "evaluate notes": ["evaluate", "{NOTES}"],
    "evaluate an export": ["evaluate", "{EXPORT_CLASSIFICATION}"],
    "sample prompt outside vocabulary": [*S[:-1], "the€"],
    "sample empty prompt": [*S[:-1], ""],
    "sample temperature nan": [*S, "--temperature", "nan"],
    "sample temperature inf": [*S, "--temperature", "inf"],
    "sample temperature negative": [*S, "--temperature", "-1"],
    "sample length 0": [*S, "--length", "0"],
    "sample top-k 0": [*S, "--top-k", "0"],
    "sample top-p 0": [*S, "--top-p", "0"],
    "sample top-p above 1": [*S, "--top-p", "1.5"],
    "sample top-p nan": [*S, "--top-p", "nan"],
    "sample seed negative": [*S, "--seed", "-5"],
    "sample a seq2seq run": ["generate", "{RUN}", "--engine", "keras", "--prompt", "man"],
    "sample missing run": ["generate", "{DIR}/nowhere", "--engine", "keras", "--prompt", "a"],
    "decode a language model run": ["translate", "{LM_RUN}", "--engine", "keras", "abc"],
    "decode character outside vocabulary": ["translate", "{RUN}", "--engine", "keras", "m@n"],
    "decode source too long": ["translate", "{RUN}", "--engine", "keras", "mmmmmmmmmmmmmmmmmmmmmmmm"],
    "decode beam 0": ["translate", "{RUN}", "--engine", "keras", "man", "--beam", "0"],
    # exporting
    "export missing run": ["export", "{DIR}/nowhere"],
    "export unknown format": ["export", "{RUN}", "--format", "pickle"],
    "export empty format": ["export", "{RUN}", "--format", ","],
    "export out holds notes": ["export", "{RUN}", "--out", "{NOTES}"],
    "export out is the run": ["export", "{RUN}", "--out", "{RUN}"],
    "export out is a file": ["export", "{RUN}", "--out", "{A_FILE}"],
    "export out holds the run": ["export", "{RUN}", "--out", "{DIR}"],
    "export out under a file": ["export", "{RUN}", "--out", "{A_FILE}/export"],
    # predicting from images
    "input missing": [*P, "{DIR}/missing.npy"],
    "npy with NaN pixels": [*P, "{NAN_NPY}"],
    "npy with infinite pixels": [*P, "{INF_NPY}"],
    "npy with zero rows": [*P, "{ZERO_ROWS_NPY}"],
    "npy of zero bytes": [*P, "{EMPTY_NPY}"],
    "npy garbage": [*P, "{GARBAGE_NPY}"],
    "npy wrong shape": [*P, "{WRONG_SHAPE_NPY}"],
    "npy negative pixels": [*P, "{NEGATIVE_NPY}"],
    "npy pixels above 1": [*P, "{LARGE_NPY}"],
    "npy int64 pixels": [*P, "{INT64_NPY}"],
    "npy of strings": [*P, "{STRINGS_NPY}"],
    "npy scalar": [*P, "{SCALAR_NPY}"],
    "npz archive": [*P, "{ARCHIVE_NPZ}"],
    "unknown input kind": [*P, "{IMAGE_TXT}"],
    "decompression-bomb PNG": [*P, "{BOMB_PNG}"],
    "corrupt PNG": [*P, "{CORRUPT_PNG}"],
    "corrupt JPEG": [*P, "{CORRUPT_JPG}"],
    "text named .jpg": [*P, "{TEXT_JPG}"],
    "unknown invert": [*P, "{NAN_NPY}", "--invert", "maybe"],
    "unknown shipped model": ["predict", "no_such_model", "{NAN_NPY}"],
    "unknown shipped model, generate": ["generate", "no_such_model", "--prompt", "a"],
    "IDX bad magic": [*P, "{BAD_MAGIC-IDX3-UBYTE}"],
    "IDX header overflow": [*P, "{OVERFLOW-IDX3-UBYTE}"],
    "IDX truncated gzip": [*P, "{TRUNCATED-IDX3-UBYTE_GZ}"],
    "IDX not gzip": [*P, "{NOT_GZIP-IDX3-UBYTE_GZ}"],
    "unknown engine": [*P, "{NAN_NPY}", "--engine", "tflite"],
    "predict with a run folder": ["predict", "{RUN}", "{NAN_NPY}"],
    "predict with a language model export": ["predict", "{EXPORT_LANGUAGE_MODEL}", "{NAN_NPY}"],
    "predict with a missing export": ["predict", "{DIR}/nowhere", "{NAN_NPY}"],
    "predict with an export missing its model file": [*P, "{IDX_GOOD}/t10k-images-idx3-ubyte"],
    # generating and translating
    "generate prompt outside vocabulary": [*G[:-1], "xyz"],
    "generate temperature nan": [*G, "--temperature", "nan"],
    "generate length 0": [*G, "--length", "0"],
    "generate with a classification export": ["generate", "{EXPORT_CLASSIFICATION}", "--prompt", "a"],
    "translate with a classification export": ["translate", "{EXPORT_CLASSIFICATION}", "a"],
    "translate beam 0": ["translate", "{EXPORT_SEQ2SEQ}", "1+1", "--beam", "0"],
    # drawing pictures
    "draw an unknown class": ["generate", "lstm_fashion_mnist_generator", "--class", "Sneakers"],
    "draw no class": ["generate", "lstm_fashion_mnist_generator", "--seed", "0"],
    "draw 0 pictures": ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--count", "0"],
    "draw at temperature -1": ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--temperature", "-1"],
    "draw into a .jpg": ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--out", "{DIR}/bag.jpg"],
    "draw into a missing folder": ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--out",
                                   "{DIR}/nowhere/bag.png"],
    "draw into a folder": ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--out", "{DIR}"],
    "draw with a prompt": ["generate", "lstm_fashion_mnist_generator", "--prompt", "a"],
    "continue a text with a class": ["generate", "char_lm_lyrics", "--prompt", "分开", "--class", "Bag"],
    "translate character outside vocabulary": ["translate", "{EXPORT_SEQ2SEQ}", "1-1"],
    "translate source too long": ["translate", "{EXPORT_SEQ2SEQ}", "1+1+1+1+1+1"],
    "translate an addition model 12+": ["translate", "seq2seq_addition", "12+"],
    "translate an addition model 1234+5": ["translate", "seq2seq_addition", "1234+5", "--engine", "keras"],
    "add 12+": ["predict", "simple_rnn_binary_addition", "12+"],
    "add with --invert": ["predict", "simple_rnn_binary_addition", "1+1", "--invert", "yes"],
    # shipping
    "ship out holds notes": ["ship", "{RUN}", "--out", "{NOTES}"],
    "ship out is a file": ["ship", "{RUN}", "--out", "{A_FILE}"],
    "ship over a shipped model without --overwrite": ["ship", "{RUN}", "--out", "{SHIPPED_PAIRS}"],
    "ship a run whose model is another recipe's": ["ship", "{RUN_OTHER_MODEL}", "--out", "{DIR}/shipped"],
    "ship a run with a corrupt model.keras": ["ship", "{RUN_CORRUPT_MODEL}", "--out", "{DIR}/shipped"],
    "ship a run with an empty history": ["ship", "{RUN_EMPTY_HISTORY}", "--out", "{DIR}/shipped"],
    "ship a run whose best epoch is not in its history": ["ship", "{RUN_BEST_EPOCH_MISSING}", "--out",
                                                          "{DIR}/shipped"],
    "ship a run with a damaged metrics.json": ["ship", "{RUN_METRICS_NOT_JSON}", "--out", "{DIR}/shipped"],
    "evaluate a run with a corrupt model.keras": ["evaluate", "{RUN_CORRUPT_MODEL}"],
    # shipped models changed after shipping
    "shipped model.keras changed, keras": ["translate", "{TAMPERED_MODEL}", "man", "--engine", "keras"],
    "shipped model.keras changed, onnx": ["translate", "{TAMPERED_MODEL}", "man"],
    "shipped classes.json reversed": ["predict", "{TAMPERED_CLASSES}", "{ZERO_ROWS_NPY}", "--engine", "keras"],
    "shipped export manifest edited": ["predict", "{TAMPERED_MANIFEST}", "{ZERO_ROWS_NPY}"],
    "shipped folder with an extra file": ["translate", "{TAMPERED_EXTRA_FILE}", "man"],
    "shipped folder with a file missing": ["translate", "{TAMPERED_MISSING_FILE}", "man", "--engine", "keras"],
    "shipped folder without its card.json, keras": ["predict", "{TAMPERED_NO_CARD}", "{ZERO_ROWS_NPY}", "--engine",
                                                   "keras"],
    "shipped folder without its card.json, onnx": ["predict", "{TAMPERED_NO_CARD}", "{ZERO_ROWS_NPY}"],
    # counts past what the engines hold (a traceback after `Epoch 1/...` once)
    "train for more epochs than 32 bits hold": ["train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs",
                                                "99999999999999999999999", "--out", "{DIR}/new_run"],
    "train with a batch larger than 32 bits hold": ["train", "seq2seq_word_pairs", "--batch-size", str(2**31),
                                                    "--out", "{DIR}/new_run"],
    "train with a limit larger than 32 bits hold": ["train", "seq2seq_word_pairs", "--limit", str(2**40),
                                                    "--out", "{DIR}/new_run"],
    # --out of generate follows the --overwrite rule of train, export and ship
    "draw onto an existing file": ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--out",
                                   "{EXISTING_PNG}"],
    "overwrite without --out": ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--overwrite"],
    "overwrite for a language model": ["generate", "char_lm_lyrics", "--prompt", "a", "--overwrite"],
}
MANIFEST_CASES = ["task", "no_model", "dtype", "dtype_bogus", "shape", "inputs_empty", "input_name", "files",
                  "vocab_kind", "vocab_chars", "vocab_size", "vocab_dup", "vocab_missing", "decoding",
                  "decoding_len", "not_json", "list"]
for _name in MANIFEST_CASES:  # manifests edited by hand
    CASES[f"manifest edited: {_name}"] = ["predict", "{DIR}/manifest_" + _name, "{ZERO_ROWS_NPY}"]
    CASES[f"manifest edited: {_name}, generate"] = ["generate", "{DIR}/manifest_" + _name, "--prompt", "ab"]


# What the one line must say, where a wrong or vague message was once printed.
MESSAGES = {
    "npy pixels above 1": "found values from 2 to 2",
    "npy with NaN pixels": "found NaN or infinite values",
    "evaluate a run with a corrupt model.keras": "expected a .keras model file",
    "ship over a shipped model without --overwrite": "pass --overwrite",
    "ship out holds notes": "not a zoo shipped model",
    "ship a run whose model is another recipe's": "a 'char_lm' model, but the run's recipe",
    "ship a run with an empty history": "expected one row for the best epoch",
    "ship a run whose best epoch is not in its history": "expected one row for the best epoch 999",
    "shipped model.keras changed, keras": "model.keras: sha256 differs from card.json",
    "shipped model.keras changed, onnx": "model.keras: sha256 differs from card.json",
    "shipped classes.json reversed": "classes.json: sha256 differs from card.json",
    "shipped export manifest edited": "export/manifest.json: sha256 differs from card.json",
    "shipped folder with an extra file": "notes.txt: not listed in card.json",
    "shipped folder with a file missing": "vocab.json: listed in card.json but missing",
    "shipped folder without its card.json, keras": "a shipped model without its card.json",
    "shipped folder without its card.json, onnx": "a shipped model without its card.json",
    "train for more epochs than 32 bits hold": "'--epochs': 99999999999999999999999 is not in the range 1<=x<=2147483647",
    "train with a batch larger than 32 bits hold": "'--batch-size': 2147483648 is not in the range",
    "train with a limit larger than 32 bits hold": "'--limit': 1099511627776 is not in the range",
    "draw onto an existing file": "the file exists; pass --overwrite to replace it",
    "overwrite without --out": "--overwrite: it replaces the file --out names",
    "overwrite for a language model": "--overwrite: a language model continues --prompt texts",
    "translate an addition model 12+": "expected two numbers of 1 to 3 digits joined by +",
    "draw an unknown class": "class 'Sneakers': expected one of T-shirt/top, Trouser, Pullover",
    "draw no class": "--class: ",
    "draw 0 pictures": "count 0: expected a whole number in 1..10000",
    "draw into a .jpg": "expected a file name ending in .png",
    "draw into a missing folder": "create it first",
    "draw with a prompt": "--prompt: ",
    "continue a text with a class": "--class: a language model continues --prompt texts",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(name, world, capsys):
    args = [a.format(**world) if "{" in a else a for a in CASES[name]]
    watched = [world["DIR"], world["RUN"]]
    before = snapshot(*watched)
    capsys.readouterr()
    code = main(["--backend", BACKEND, *args] if args[0] != "--backend" else args)
    out, err = capsys.readouterr()
    assert code == 2, (code, err[-2000:])
    assert err.startswith("zoo: error: ") and err.count("\n") == 1, err[-2000:]
    assert "Traceback" not in err
    assert MESSAGES.get(name, "") in err, err
    assert snapshot(*watched) == before


# The Python API: (shipped model, call, the CLI line that makes the same check or None).
API_CASES = {
    "classify NaN pixels": ("simple_rnn_fashion_mnist", lambda m: m.classify(np.full((1, 28, 28), np.nan)), None),
    "classify pixels of 7": ("simple_rnn_fashion_mnist", lambda m: m.classify(np.full((1, 28, 28), 7.0)), None),
    "classify a (1, 28, 27) array": ("simple_rnn_fashion_mnist", lambda m: m.classify(np.zeros((1, 28, 27))), None),
    "classify an empty batch": ("simple_rnn_fashion_mnist", lambda m: m.classify(np.zeros((0, 28, 28))), None),
    "classify strings": ("simple_rnn_fashion_mnist", lambda m: m.classify([["a"] * 28] * 28), None),
    "logits of a wrong shape": ("simple_rnn_fashion_mnist", lambda m: m.logits(np.zeros((2, 28, 27))), None),
    "logits of an empty batch": ("simple_rnn_fashion_mnist", lambda m: m.logits(np.zeros((0, 28, 28))), None),
    "evaluate limit 0": ("simple_rnn_fashion_mnist", lambda m: m.evaluate(limit=0), None),
    "translate beam 0": ("seq2seq_addition", lambda m: m.translate(["1+1"], beam=0),
                         ["translate", "seq2seq_addition", "1+1", "--beam", "0"]),
    "translate 12+": ("seq2seq_addition", lambda m: m.translate(["12+"]), ["translate", "seq2seq_addition", "12+"]),
    "translate an empty list": ("seq2seq_addition", lambda m: m.translate([]), None),
    "translate a number": ("seq2seq_addition", lambda m: m.translate(12), None),
    "generate length 0": ("seq2seq_word_pairs", None, None),  # replaced below: a language model
    "add 12+": ("simple_rnn_binary_addition", lambda m: m.add("12+"), ["predict", "simple_rnn_binary_addition", "12+"]),
    "add an empty list": ("simple_rnn_binary_addition", lambda m: m.add([]), None),
    "classify with a language model": ("char_lm_lyrics", lambda m: m.classify(np.zeros((1, 28, 28))), None),
}
API_CASES["generate length 0"] = ("char_lm_lyrics", lambda m: m.generate("分开", 0),
                                  ["generate", "char_lm_lyrics", "--prompt", "分开", "--length", "0"])
API_CASES["generate top_p 2"] = ("char_lm_lyrics", lambda m: m.generate("分开", 5, top_p=2.0),
                                 ["generate", "char_lm_lyrics", "--prompt", "分开", "--length", "5", "--top-p", "2"])
API_CASES["generate temperature nan"] = ("char_lm_lyrics", lambda m: m.generate("分开", 5, temperature=float("nan")),
                                         ["generate", "char_lm_lyrics", "--prompt", "分开", "--temperature", "nan"])
API_CASES["generate an empty prompt"] = ("char_lm_lyrics", lambda m: m.generate("", 5),
                                         ["generate", "char_lm_lyrics", "--prompt", ""])
API_CASES["draw an unknown class"] = ("lstm_fashion_mnist_generator", lambda m: m.generate("Sneakers"),
                                      ["generate", "lstm_fashion_mnist_generator", "--class", "Sneakers"])
API_CASES["draw 0 pictures"] = ("lstm_fashion_mnist_generator", lambda m: m.generate("Bag", count=0),
                                ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--count", "0"])
API_CASES["draw with a seed of -1"] = ("lstm_fashion_mnist_generator", lambda m: m.generate("Bag", seed=-1),
                                       ["generate", "lstm_fashion_mnist_generator", "--class", "Bag", "--seed", "-1"])


@pytest.fixture(scope="module")
def shipped_models():
    """Shipped models loaded once per engine, by (name, engine)."""
    loaded = {}

    def get(name, engine):
        if (name, engine) not in loaded:
            loaded[name, engine] = zoo.load(name, engine=engine)
        return loaded[name, engine]

    return get


@pytest.mark.parametrize("engine", ["keras", "onnx"])
@pytest.mark.parametrize("name", sorted(API_CASES))
def test_the_python_api_refuses_what_the_cli_refuses(name, engine, shipped_models, capsys):
    model_name, call, cli = API_CASES[name]
    with pytest.raises(ZooError) as excinfo:
        call(shipped_models(model_name, engine))
    message = str(excinfo.value)
    assert isinstance(excinfo.value, ValueError) and message and "\n" not in message
    if cli is not None:
        capsys.readouterr()
        assert main(["--backend", BACKEND, *cli, "--engine", engine]) == 2
        assert capsys.readouterr().err == f"zoo: error: {message}\n"


def test_the_python_api_bounds_the_counts_a_run_takes(tmp_path):
    """zoo.train's counts are checked as the CLI's are, before a run folder is made."""
    recipe = load_recipe("seq2seq_word_pairs")
    with pytest.raises(ZooError, match=r"epochs 100000000000000000000000; expected a whole number in 1\.\.2147483647"):
        recipe.replace(epochs=10**23)
    with pytest.raises(ZooError, match="batch_size 0; expected a whole number"):
        recipe.replace(batch_size=0)
    with pytest.raises(ZooError, match=r"--limit 1099511627776: expected a whole number in 1\.\.2147483647"):
        train(recipe.replace(preset="tiny", epochs=1), out_dir=tmp_path / "run", limit=2**40, verbose=0)
    assert not any(tmp_path.iterdir())
