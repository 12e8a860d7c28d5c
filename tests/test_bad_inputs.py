"""A catalogue of bad input, run in-process through the `zoo` entry point: each case exits with
code 2, prints exactly one line on stderr (``zoo: error: ...``, no traceback) that names the
case's cause, and changes no file in the folders it touches. The Python API refuses the same
inputs with the zoo's error (a ValueError) naming the cause and, where the CLI has the same
case, the same message."""

import gzip
import json
import pathlib
import shutil
import struct
import zlib
from typing import Callable, NamedTuple

import keras
import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.data.vocabulary import SPECIALS
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
        "vocab": {"specials": list(SPECIALS), "chars": list("abc ")},
        "artifacts": {
            "model": {"inputs": [{"name": "tokens", "shape": [None, None], "dtype": "int32"}],
                      "outputs": [{"name": "logits", "shape": [None, None, 8], "dtype": "float32"}]},
            "step": {"inputs": [{"name": "token", "shape": [None, 1], "dtype": "int32"},
                                {"name": "state_h_1", "shape": [None, 8], "dtype": "float32"},
                                {"name": "state_c_1", "shape": [None, 8], "dtype": "float32"}],
                     "outputs": [{"name": "logits", "shape": [None, 8], "dtype": "float32"},
                                 {"name": "next_state_h_1", "shape": [None, 8], "dtype": "float32"},
                                 {"name": "next_state_c_1", "shape": [None, 8], "dtype": "float32"}]}},
    },
}
MANIFESTS["seq2seq"] = {
    "format_version": 1, "task": "seq2seq", "files": {},
    "vocab": {"specials": list(SPECIALS), "chars": list("0123456789+")},
    "decoding": {"source_len": 7, "target_len": 5, "reverse_source": False},
    "artifacts": {
        "model": {"inputs": [{"name": "source_tokens", "shape": [None, None], "dtype": "int32"},
                             {"name": "decoder_tokens", "shape": [None, None], "dtype": "int32"}],
                  "outputs": [{"name": "logits", "shape": [None, None, 15], "dtype": "float32"}]},
        "encoder": MANIFESTS["language_model"]["artifacts"]["step"] | {
            "inputs": [{"name": "source_tokens", "shape": [None, None], "dtype": "int32"}]},
        "decoder_step": MANIFESTS["language_model"]["artifacts"]["step"],
    },
}


def edited(task, edit):
    manifest = json.loads(json.dumps(MANIFESTS[task]))
    edit(manifest)
    return manifest


# Manifests edited by hand: name -> (the task whose manifest is edited, the edit, the cause).
MANIFEST_EDITS = {
    "task": ("classification", lambda m: m.update(task="regression"), "unknown task 'regression'"),
    "no_model": ("classification", lambda m: m["artifacts"].pop("model"), "export needs the artifacts model"),
    "dtype": ("classification", lambda m: m["artifacts"]["model"]["inputs"][0].update(dtype="string"),
              "data type 'string' not understood"),
    "dtype_bogus": ("classification", lambda m: m["artifacts"]["model"]["inputs"][0].update(dtype="float99"),
                    "data type 'float99' not understood"),
    "shape": ("classification", lambda m: m["artifacts"]["model"]["inputs"][0].update(shape=[None, -28, 28]),
              "artifact 'model': bad shape [None, -28, 28]"),
    "inputs_empty": ("classification", lambda m: m["artifacts"]["model"].update(inputs=[]),
                     "artifact 'model': inputs must be a non-empty list"),
    "input_name": ("classification", lambda m: m["artifacts"]["model"]["inputs"][0].update(name=7),
                   "artifact 'model': each of its inputs needs a name"),
    "files": ("classification", lambda m: m.update(files=["model.onnx"]), "files must map paths to sha256 digests"),
    "vocab_specials": ("language_model", lambda m: m["vocab"].update(specials=["<pad>"]),
                       "vocabulary: expected 'specials' ['<pad>', '<start>', '<end>', '<unk>'], found ['<pad>']"),
    "vocab_chars": ("language_model", lambda m: m["vocab"].update(chars="abc "),
                    "vocabulary: expected 'chars' to be a list"),
    "vocab_size": ("language_model", lambda m: m["vocab"].update(chars=list("abcdef")),
                   "the vocabulary has 10 symbols, the model predicts 8"),
    "vocab_dup": ("language_model", lambda m: m["vocab"].update(chars=list("aabc")),
                  "vocabulary: characters must be distinct"),
    "vocab_missing": ("language_model", lambda m: m.pop("vocab"),
                      "vocabulary: expected an object with 'specials' and 'chars', found none"),
    "decoding": ("seq2seq", lambda m: m.pop("decoding"), "no 'decoding' key"),
    "decoding_len": ("seq2seq", lambda m: m["decoding"].update(source_len="7"),
                     "decoding.source_len must be a positive whole number"),
}
# ...and manifest.json files that are no manifest at all: name -> (the bytes, the cause).
MANIFEST_FILES = {
    "not_json": (b"{not json", "expected an export manifest (Expecting property name"),
    "list": (b"[1, 2]", "expected an export manifest (a JSON object, found a list)"),
}


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
    for name, (task, edit, _) in MANIFEST_EDITS.items():
        add(f"manifest_{name}/manifest.json", json.dumps(edited(task, edit)).encode())
    for name, (data, _) in MANIFEST_FILES.items():
        add(f"manifest_{name}/manifest.json", data)

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
    recipe = "from zoo.recipe import Recipe\nRECIPE = Recipe(model='char_lm', task='language_model', data={data})\n"
    add("misspelled.py", recipe.format(data={"source": "jaychou_lyrics", "seq_lenn": 35}), binary=False)
    add("mistyped.py", recipe.format(data={"source": "jaychou_lyrics", "seq_len": "35"}), binary=False)
    add("not_a_recipe.py", "RECIPE = 3\n", binary=False)
    add("raises.py", "import nothing_of_the_kind\n", binary=False)
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


class Case(NamedTuple):
    """A bad command line and the cause its one line must name: a fragment of the message
    (``{KEY}`` stands for a path of the `world` fixture)."""
    name: str
    argv: list[str]
    cause: str


T = ["train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs", "1", "--out", "{DIR}/new_run"]
F = ["train", "lstm_fashion_mnist", "--preset", "tiny", "--epochs", "1", "--out", "{DIR}/new_run", "--data-dir"]
LM = ["train", "char_lm_lyrics", "--preset", "tiny", "--epochs", "1", "--out", "{DIR}/new_run", "--text-file"]
S = ["generate", "{LM_RUN}", "--engine", "keras", "--prompt", "the"]
P = ["predict", "{EXPORT_CLASSIFICATION}"]
G = ["generate", "{EXPORT_LANGUAGE_MODEL}", "--prompt", "ab"]
DRAW = ["generate", "lstm_fashion_mnist_generator"]
# A task's option given to another task's model or recipe: click refuses it, as an option the
# command (built for that task) does not have.
CASES = [
    # the command line itself
    Case("unknown command", ["nope"], "No such command 'nope'"),
    Case("unknown backend", ["--backend", "theano", "list"], "'--backend': 'theano' is not one of"),
    Case("train without recipe", ["train"], "Missing argument 'RECIPE'"),
    Case("unknown recipe", ["train", "nope"], "unknown recipe 'nope'"),
    Case("unknown option", ["train", "seq2seq_word_pairs", "--bogus"], "No such option '--bogus'"),
    Case("recipe file missing", ["train", "{DIR}/absent.py"], "recipe file {DIR}/absent.py: not found"),
    Case("recipe file with a misspelled data key", ["train", "{DIR}/misspelled.py", "--out", "{DIR}/new_run"],
         "recipe 'misspelled' ({DIR}/misspelled.py): unknown data key 'seq_lenn'; expected source, path"),
    Case("recipe file with a mistyped data key", ["train", "{DIR}/mistyped.py", "--out", "{DIR}/new_run"],
         "recipe 'mistyped' ({DIR}/mistyped.py): data key 'seq_len': '35'; expected a whole number"),
    Case("recipe file without a recipe", ["train", "{DIR}/not_a_recipe.py"], "expected RECIPE = Recipe(...) in it"),
    Case("recipe file that fails", ["train", "{DIR}/raises.py"],
         "recipe file {DIR}/raises.py: ModuleNotFoundError: No module named 'nothing_of_the_kind'"),
    Case("predict without inputs", ["predict", "{EXPORT_CLASSIFICATION}"], "Missing argument 'INPUT"),
    # training options
    Case("epochs 0", [*T, "--epochs", "0"], "'--epochs': 0 is not in the range 1<=x"),
    Case("epochs negative", [*T, "--epochs", "-3"], "'--epochs': -3 is not in the range 1<=x"),
    Case("epochs not a number", [*T, "--epochs", "many"], "'--epochs': 'many' is not a valid integer"),
    Case("batch size 0", [*T, "--batch-size", "0"], "'--batch-size': 0 is not in the range 1<=x"),
    Case("learning rate nan", [*T, "--learning-rate", "nan"], "'--learning-rate': 'nan' is not a finite number"),
    Case("learning rate inf", [*T, "--learning-rate", "inf"], "'--learning-rate': 'inf' is not a finite number"),
    Case("learning rate -inf", [*T, "--learning-rate", "-inf"], "'--learning-rate': -inf is not in the range x>0"),
    Case("learning rate negative", [*T, "--learning-rate", "-0.1"], "'--learning-rate': -0.1 is not in the range x>0"),
    Case("learning rate zero", [*T, "--learning-rate", "0"], "'--learning-rate': 0.0 is not in the range x>0"),
    Case("learning rate text", [*T, "--learning-rate", "fast"], "'--learning-rate': 'fast' is not a valid finite"),
    Case("seed negative", [*T, "--seed", "-1"], "'--seed': -1 is not in the range 0<=x"),
    Case("seed too large", [*T, "--seed", str(2**32)], "'--seed': 4294967296 is not in the range 0<=x<=4294967295"),
    Case("seed not a number", [*T, "--seed", "abc"], "'--seed': 'abc' is not a valid integer"),
    Case("limit 0", [*T, "--limit", "0"], "'--limit': 0 is not in the range 1<=x"),
    Case("unknown preset", [*T, "--preset", "huge"], "unknown preset 'huge'"),
    Case("data source on text recipe", [*T, "--data-source", "tfds"], "No such option '--data-source'"),
    Case("unknown data source", [*F, "{IDX_GOOD}", "--data-source", "csv"], "'--data-source': 'csv' is not one of"),
    Case("text file on seq2seq", [*T, "--text-file", "{CORPUS}"], "No such option '--text-file'"),
    # where a run goes
    Case("out is a file", [*T[:-1], "{A_FILE}"], "'--out': Directory '{A_FILE}' is a file"),
    Case("out holds notes", [*T[:-1], "{NOTES}"], "--out {NOTES}: the folder holds files that are not a zoo run"),
    Case("out holds notes, overwrite", [*T[:-1], "{NOTES}", "--overwrite"],
         "--out {NOTES}: the folder holds files that are not a zoo run"),
    Case("out under a file", [*T[:-1], "{A_FILE}/run"], "--out {A_FILE}/run: cannot create its parent folder"),
    Case("out is a finished run", [*T[:-1], "{RUN}"], "--out {RUN}: holds a run; pass --overwrite"),
    Case("out is a finished run of another recipe", ["train", "char_lm_lyrics", "--out", "{RUN}"],
         "--out {RUN}: holds a run; pass --overwrite"),
    # image data
    Case("data dir missing", [*F, "{DIR}/nowhere"], "{DIR}/nowhere: no such data directory"),
    Case("data dir is a file", [*F, "{A_FILE}"], "{A_FILE}: no such data directory"),
    Case("IDX file missing", [*F, "{IDX_MISSING}"], "{IDX_MISSING}: missing t10k-labels-idx1-ubyte[.gz]"),
    Case("IDX zero test images", [*F, "{IDX_NO_TEST}"],
         "{IDX_NO_TEST}/t10k-images-idx3-ubyte: expected at least one image"),
    Case("IDX zero train images", [*F, "{IDX_NO_TRAIN}"],
         "{IDX_NO_TRAIN}/train-images-idx3-ubyte: expected at least one image"),
    Case("IDX header dimensions overflow", [*F, "{IDX_OVERFLOW}"],
         "for shape (2147483648, 2147483648, 2147483648), found 0"),
    Case("IDX label out of range", [*F, "{IDX_LABELS}"], "expected labels in 0..9, found 11"),
    Case("IDX label count", [*F, "{IDX_LABEL_COUNT}"], "train-labels-idx1-ubyte: expected 12 labels"),
    Case("IDX image shape", [*F, "{IDX_SHAPE}"], "of shape (N, 28, 28), found shape (12, 28, 27)"),
    Case("IDX data type", [*F, "{IDX_DTYPE}"], "unsupported IDX data type 0x0d"),
    Case("IDX truncated", [*F, "{IDX_TRUNCATED}"], "{IDX_TRUNCATED}/t10k-images-idx3-ubyte: truncated IDX file"),
    Case("limit leaves validation empty", [*F, "{IDX_GOOD}", "--limit", "2"],
         "the validation split is empty with --limit 2"),
    # text data
    Case("text file missing", [*LM, "{DIR}/missing.txt"], "{DIR}/missing.txt: cannot read text file (No such file"),
    Case("text file empty", [*LM, "{EMPTY_TXT}"], "{EMPTY_TXT}: expected a non-empty text file"),
    Case("text file not UTF-8", [*LM, "{LATIN1_TXT}"], "{LATIN1_TXT}: expected UTF-8 text, found byte 0xe9"),
    Case("text file one distinct character", [*LM, "{SINGLE_TXT}"],
         "expected a training text of at least 2 distinct characters, found 1"),
    Case("text file is a folder", [*LM, "{NOTES}"], "{NOTES}: cannot read text file (Is a directory)"),
    Case("text file is binary", [*LM, "{GRAY16_PNG}"], "{GRAY16_PNG}: expected UTF-8 text, found byte 0x89"),
    Case("lyrics data dir missing", ["train", "char_lm_lyrics", "--data-dir", "{DIR}/nowhere", "--out", "{DIR}/r"],
         "{DIR}/nowhere/jaychou_lyrics/jaychou_lyrics.txt.zip: lyrics archive not found"),
    Case("shakespeare data dir missing",
         ["train", "char_lm_shakespeare", "--data-dir", "{DIR}/nowhere", "--out", "{DIR}/r"],
         "{DIR}/nowhere/tiny_shakespeare/input.txt: tiny_shakespeare file not found"),
    # reading runs
    Case("evaluate missing run", ["evaluate", "{DIR}/nowhere"], "{DIR}/nowhere: not a finished run folder"),
    Case("evaluate a file", ["evaluate", "{A_FILE}"], "{A_FILE}: not a finished run folder"),
    Case("evaluate notes", ["evaluate", "{NOTES}"], "{NOTES}: not a finished run folder"),
    Case("evaluate an export", ["evaluate", "{EXPORT_CLASSIFICATION}"],
         "{EXPORT_CLASSIFICATION}: not a finished run folder"),
    Case("sample prompt outside vocabulary", [*S[:-1], "the€"],
         "prompt: character '€' is not in the model's vocabulary"),
    Case("sample empty prompt", [*S[:-1], ""], "prompt: expected at least one character"),
    Case("sample temperature nan", [*S, "--temperature", "nan"], "temperature nan: expected a finite number >= 0"),
    Case("sample temperature inf", [*S, "--temperature", "inf"], "temperature inf: expected a finite number >= 0"),
    Case("sample temperature negative", [*S, "--temperature", "-1"], "temperature -1.0: expected a finite number >= 0"),
    Case("sample length 0", [*S, "--length", "0"], "length 0: expected a whole number >= 1"),
    Case("sample top-k 0", [*S, "--top-k", "0"], "top_k 0: expected a whole number >= 1"),
    Case("sample top-p 0", [*S, "--top-p", "0"], "top_p 0.0: expected a finite number > 0 and <= 1"),
    Case("sample top-p above 1", [*S, "--top-p", "1.5"], "top_p 1.5: expected a finite number > 0 and <= 1"),
    Case("sample top-p nan", [*S, "--top-p", "nan"], "top_p nan: expected a finite number > 0 and <= 1"),
    Case("sample seed negative", [*S, "--seed", "-5"], "seed -5: expected a whole number in 0..4294967295"),
    Case("sample a seq2seq run", ["generate", "{RUN}", "--engine", "keras", "--prompt", "man"],
         "{RUN} is a seq2seq model; it answers zoo translate"),
    Case("sample missing run", ["generate", "{DIR}/nowhere", "--engine", "keras", "--prompt", "a"],
         "{DIR}/nowhere: not a run or export folder, nor a shipped model"),
    Case("decode a language model run", ["translate", "{LM_RUN}", "--engine", "keras", "abc"],
         "{LM_RUN} is a language_model model; it answers zoo generate"),
    Case("decode character outside vocabulary", ["translate", "{RUN}", "--engine", "keras", "m@n"],
         "input 'm@n': character '@' is not in the model's vocabulary"),
    Case("decode source too long", ["translate", "{RUN}", "--engine", "keras", "m" * 24],
         f"input '{'m' * 24}': expected at most 5 characters"),
    Case("decode beam 0", ["translate", "{RUN}", "--engine", "keras", "man", "--beam", "0"],
         "beam 0: expected a whole number >= 1"),
    # exporting
    Case("export missing run", ["export", "{DIR}/nowhere"], "{DIR}/nowhere: not a finished run folder"),
    Case("export unknown format", ["export", "{RUN}", "--format", "pickle"],
         "--format 'pickle': expected a comma-separated subset of"),
    Case("export empty format", ["export", "{RUN}", "--format", ","],
         "--format ',': expected a comma-separated subset of"),
    Case("export out holds notes", ["export", "{RUN}", "--out", "{NOTES}"],
         "--out {NOTES}: the folder holds files that are not a zoo export"),
    Case("export out is the run", ["export", "{RUN}", "--out", "{RUN}"],
         "--out {RUN}: the folder holds files that are not a zoo export"),
    Case("export out is a file", ["export", "{RUN}", "--out", "{A_FILE}"], "'--out': Directory '{A_FILE}' is a file"),
    Case("export out holds the run", ["export", "{RUN}", "--out", "{DIR}"],
         "--out {DIR}: the folder holds files that are not a zoo export"),
    Case("export out under a file", ["export", "{RUN}", "--out", "{A_FILE}/export"],
         "--out {A_FILE}/export: cannot create its parent folder"),
    # predicting from images
    Case("input missing", [*P, "{DIR}/missing.npy"], "{DIR}/missing.npy: no such input file"),
    Case("npy with NaN pixels", [*P, "{NAN_NPY}"], "found NaN or infinite values"),
    Case("npy with infinite pixels", [*P, "{INF_NPY}"], "found NaN or infinite values"),
    Case("npy with zero rows", [*P, "{ZERO_ROWS_NPY}"], "{ZERO_ROWS_NPY}: expected at least one image"),
    Case("npy of zero bytes", [*P, "{EMPTY_NPY}"], "{EMPTY_NPY}: expected a .npy array"),
    Case("npy garbage", [*P, "{GARBAGE_NPY}"], "{GARBAGE_NPY}: expected a .npy array"),
    Case("npy wrong shape", [*P, "{WRONG_SHAPE_NPY}"], "or (N, 28, 28), got (2, 28, 27)"),
    Case("npy negative pixels", [*P, "{NEGATIVE_NPY}"], "found values from -1 to -1"),
    Case("npy pixels above 1", [*P, "{LARGE_NPY}"], "found values from 2 to 2"),
    Case("npy int64 pixels", [*P, "{INT64_NPY}"], "found values from 300 to 300"),
    Case("npy of strings", [*P, "{STRINGS_NPY}"], "expected uint8 pixels or floats in [0, 1], got <U1"),
    Case("npy scalar", [*P, "{SCALAR_NPY}"], "or (N, 28, 28), got ()"),
    Case("npz archive", [*P, "{ARCHIVE_NPZ}"], "{ARCHIVE_NPZ}: expected a .npy, IDX"),
    Case("unknown input kind", [*P, "{IMAGE_TXT}"], "{IMAGE_TXT}: expected a .npy, IDX"),
    Case("decompression-bomb PNG", [*P, "{BOMB_PNG}"], "Image size (2500000000 pixels) exceeds limit"),
    Case("corrupt PNG", [*P, "{CORRUPT_PNG}"], "{CORRUPT_PNG}: expected a PNG or JPEG picture"),
    Case("corrupt JPEG", [*P, "{CORRUPT_JPG}"], "{CORRUPT_JPG}: expected a PNG or JPEG picture"),
    Case("text named .jpg", [*P, "{TEXT_JPG}"], "{TEXT_JPG}: expected a PNG or JPEG picture"),
    Case("unknown invert", [*P, "{NAN_NPY}", "--invert", "maybe"], "'--invert': 'maybe' is not one of"),
    Case("unknown shipped model", ["predict", "no_such_model", "{NAN_NPY}"],
         "no_such_model: not a run or export folder, nor a shipped model"),
    Case("unknown shipped model, generate", ["generate", "no_such_model", "--prompt", "a"],
         "no_such_model: not a run or export folder, nor a shipped model"),
    Case("IDX bad magic", [*P, "{BAD_MAGIC-IDX3-UBYTE}"], "{BAD_MAGIC-IDX3-UBYTE}: not an IDX file"),
    Case("IDX header overflow", [*P, "{OVERFLOW-IDX3-UBYTE}"],
         "for shape (4294967295, 4294967295, 4294967295), found 0"),
    Case("IDX truncated gzip", [*P, "{TRUNCATED-IDX3-UBYTE_GZ}"], "{TRUNCATED-IDX3-UBYTE_GZ}: truncated IDX file"),
    Case("IDX not gzip", [*P, "{NOT_GZIP-IDX3-UBYTE_GZ}"], "Not a gzipped file"),
    Case("unknown engine", [*P, "{NAN_NPY}", "--engine", "tflite"], "'--engine': 'tflite' is not one of"),
    Case("predict with a run folder", ["predict", "{RUN}", "{NAN_NPY}"], "{RUN}: a run without an export"),
    Case("predict with a language model export", ["predict", "{EXPORT_LANGUAGE_MODEL}", "{NAN_NPY}"],
         "{EXPORT_LANGUAGE_MODEL} is a language_model model; it answers zoo generate"),
    Case("predict with a missing export", ["predict", "{DIR}/nowhere", "{NAN_NPY}"],
         "{DIR}/nowhere: not a run or export folder"),
    Case("predict with an export missing its model file", [*P, "{IDX_GOOD}/t10k-images-idx3-ubyte"],
         "{EXPORT_CLASSIFICATION}: the manifest lists no onnx/model.onnx"),
    # generating and translating
    Case("generate prompt outside vocabulary", [*G[:-1], "xyz"],
         "prompt: character 'x' is not in the model's vocabulary"),
    Case("generate temperature nan", [*G, "--temperature", "nan"], "temperature nan: expected a finite number >= 0"),
    Case("generate length 0", [*G, "--length", "0"], "length 0: expected a whole number >= 1"),
    Case("generate with a classification export", ["generate", "{EXPORT_CLASSIFICATION}", "--prompt", "a"],
         "{EXPORT_CLASSIFICATION} is a classification model; it answers zoo predict"),
    Case("translate with a classification export", ["translate", "{EXPORT_CLASSIFICATION}", "a"],
         "{EXPORT_CLASSIFICATION} is a classification model; it answers zoo predict"),
    Case("translate beam 0", ["translate", "{EXPORT_SEQ2SEQ}", "1+1", "--beam", "0"],
         "beam 0: expected a whole number >= 1"),
    Case("translate character outside vocabulary", ["translate", "{EXPORT_SEQ2SEQ}", "1-1"],
         "input '1-1': character '-' is not in the model's vocabulary"),
    Case("translate source too long", ["translate", "{EXPORT_SEQ2SEQ}", "1+1+1+1+1+1"],
         "input '1+1+1+1+1+1': expected at most 7 characters"),
    Case("translate an addition model 12+", ["translate", "seq2seq_addition", "12+"],
         "input '12+': expected two numbers of 1 to 3 digits joined by +"),
    Case("translate an addition model 1234+5", ["translate", "seq2seq_addition", "1234+5", "--engine", "keras"],
         "input '1234+5': expected two numbers of 1 to 3 digits joined by +"),
    Case("add 12+", ["predict", "simple_rnn_binary_addition", "12+"],
         "input '12+': expected a sum of two whole numbers"),
    Case("add with --invert", ["predict", "simple_rnn_binary_addition", "1+1", "--invert", "yes"], "No such option '--invert'"),
    # drawing pictures
    Case("draw an unknown class", [*DRAW, "--class", "Sneakers"], "class 'Sneakers': expected one of T-shirt/top"),
    Case("draw no class", [*DRAW, "--seed", "0"], "Missing option '--class'"),
    Case("draw 0 pictures", [*DRAW, "--class", "Bag", "--count", "0"], "count 0: expected a whole number in 1..10000"),
    Case("draw at temperature -1", [*DRAW, "--class", "Bag", "--temperature", "-1"],
         "temperature -1.0: expected a finite number >= 0"),
    Case("draw into a .jpg", [*DRAW, "--class", "Bag", "--out", "{DIR}/bag.jpg"],
         "--out {DIR}/bag.jpg: expected a file name ending in .png"),
    Case("draw into a missing folder", [*DRAW, "--class", "Bag", "--out", "{DIR}/nowhere/bag.png"],
         "no folder {DIR}/nowhere; create it first"),
    Case("draw into a folder", [*DRAW, "--class", "Bag", "--out", "{DIR}"], "'--out': File '{DIR}' is a directory"),
    Case("draw with a prompt", [*DRAW, "--prompt", "a"], "No such option '--prompt'"),
    Case("continue a text with a class", ["generate", "char_lm_lyrics", "--prompt", "分开", "--class", "Bag"],
         "No such option '--class'"),
    # shipping
    Case("ship out holds notes", ["ship", "{RUN}", "--out", "{NOTES}"],
         "--out {NOTES}: the folder holds files that are not a zoo shipped model"),
    Case("ship out is a file", ["ship", "{RUN}", "--out", "{A_FILE}"], "'--out': Directory '{A_FILE}' is a file"),
    Case("ship over a shipped model without --overwrite", ["ship", "{RUN}", "--out", "{SHIPPED_PAIRS}"],
         "--out {SHIPPED_PAIRS}: holds a shipped model; pass --overwrite"),
    Case("ship a run whose model is another recipe's", ["ship", "{RUN_OTHER_MODEL}", "--out", "{DIR}/shipped"],
         "a 'char_lm' model, but the run's recipe 'seq2seq_word_pairs' trains 'seq2seq'"),
    Case("ship a run with a corrupt model.keras", ["ship", "{RUN_CORRUPT_MODEL}", "--out", "{DIR}/shipped"],
         "{RUN_CORRUPT_MODEL}/model.keras: expected a .keras model file"),
    Case("ship a run with an empty history", ["ship", "{RUN_EMPTY_HISTORY}", "--out", "{DIR}/shipped"],
         "{RUN_EMPTY_HISTORY}/history.csv: expected one row for the best epoch"),
    Case("ship a run whose best epoch is not in its history",
         ["ship", "{RUN_BEST_EPOCH_MISSING}", "--out", "{DIR}/shipped"], "expected one row for the best epoch 999"),
    Case("ship a run with a damaged metrics.json", ["ship", "{RUN_METRICS_NOT_JSON}", "--out", "{DIR}/shipped"],
         "{RUN_METRICS_NOT_JSON}/metrics.json: expected the run's test metrics as a JSON object"),
    Case("evaluate a run with a corrupt model.keras", ["evaluate", "{RUN_CORRUPT_MODEL}"],
         "{RUN_CORRUPT_MODEL}/model.keras: expected a .keras model file"),
    # shipped models changed after shipping
    Case("shipped model.keras changed, keras", ["translate", "{TAMPERED_MODEL}", "man", "--engine", "keras"],
         "{TAMPERED_MODEL}: model.keras: sha256 differs from card.json"),
    Case("shipped model.keras changed, onnx", ["translate", "{TAMPERED_MODEL}", "man"],
         "{TAMPERED_MODEL}: model.keras: sha256 differs from card.json"),
    Case("shipped classes.json reversed", ["predict", "{TAMPERED_CLASSES}", "{ZERO_ROWS_NPY}", "--engine", "keras"],
         "{TAMPERED_CLASSES}: classes.json: sha256 differs from card.json"),
    Case("shipped export manifest edited", ["predict", "{TAMPERED_MANIFEST}", "{ZERO_ROWS_NPY}"],
         "{TAMPERED_MANIFEST}: export/manifest.json: sha256 differs from card.json"),
    Case("shipped folder with an extra file", ["translate", "{TAMPERED_EXTRA_FILE}", "man"],
         "{TAMPERED_EXTRA_FILE}: notes.txt: not listed in card.json"),
    Case("shipped folder with a file missing", ["translate", "{TAMPERED_MISSING_FILE}", "man", "--engine", "keras"],
         "{TAMPERED_MISSING_FILE}: vocab.json: listed in card.json but missing"),
    Case("shipped folder without its card.json, keras",
         ["predict", "{TAMPERED_NO_CARD}", "{ZERO_ROWS_NPY}", "--engine", "keras"],
         "{TAMPERED_NO_CARD}: a shipped model without its card.json"),
    Case("shipped folder without its card.json, onnx", ["predict", "{TAMPERED_NO_CARD}", "{ZERO_ROWS_NPY}"],
         "{TAMPERED_NO_CARD}: a shipped model without its card.json"),
    # counts past what the engines hold (a traceback after `Epoch 1/...` once)
    Case("train for more epochs than 32 bits hold",
         ["train", "seq2seq_word_pairs", "--preset", "tiny", "--epochs", "9" * 23, "--out", "{DIR}/new_run"],
         f"'--epochs': {'9' * 23} is not in the range 1<=x<=2147483647"),
    Case("train with a batch larger than 32 bits hold",
         ["train", "seq2seq_word_pairs", "--batch-size", str(2**31), "--out", "{DIR}/new_run"],
         "'--batch-size': 2147483648 is not in the range 1<=x<=2147483647"),
    Case("train with a limit larger than 32 bits hold",
         ["train", "seq2seq_word_pairs", "--limit", str(2**40), "--out", "{DIR}/new_run"],
         "'--limit': 1099511627776 is not in the range 1<=x<=2147483647"),
    # --out of generate follows the --overwrite rule of train, export and ship
    Case("draw onto an existing file", [*DRAW, "--class", "Bag", "--out", "{EXISTING_PNG}"],
         "--out {EXISTING_PNG}: the file exists; pass --overwrite"),
    Case("overwrite without --out", [*DRAW, "--class", "Bag", "--overwrite"],
         "--overwrite: it replaces the file --out names"),
    Case("overwrite for a language model", ["generate", "char_lm_lyrics", "--prompt", "a", "--overwrite"],
         "No such option '--overwrite'"),
]
for _name, _spec in {**MANIFEST_EDITS, **MANIFEST_FILES}.items():  # each refused by predict and generate alike
    _cause = _spec[-1]
    CASES.append(Case(f"manifest edited: {_name}", ["predict", "{DIR}/manifest_" + _name, "{ZERO_ROWS_NPY}"], _cause))
    CASES.append(Case(f"manifest edited: {_name}, generate", ["generate", "{DIR}/manifest_" + _name, "--prompt", "ab"],
                      _cause))


# Parts that many messages share: a cause says more than any of them.
VAGUE = ("zoo: error: ", "Invalid value for ", "No such option", "Missing argument ", "expected an export manifest (",
         "is not in the range", "expected a whole number >= 1", "expected a finite number >= 0",
         "not a finished run folder", "not a run or export folder")


def names_a_cause(fragment: str) -> bool:
    """At least an option's name (e.g. --class), and more than a part many messages share."""
    return len(fragment.strip()) >= len("--class") and not any(fragment in phrase for phrase in VAGUE)


def test_every_case_names_a_cause_of_its_own():
    assert len({case.name for case in CASES}) == len(CASES)
    assert [case.name for case in CASES if not names_a_cause(case.cause)] == []


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line_exit_2_naming_its_cause_and_changes_nothing(case, world, capsys):
    args = [a.format(**world) if "{" in a else a for a in case.argv]
    watched = [world["DIR"], world["RUN"]]
    before = snapshot(*watched)
    capsys.readouterr()
    code = main(["--backend", BACKEND, *args] if args[0] != "--backend" else args)
    out, err = capsys.readouterr()
    assert code == 2, (code, err[-2000:])
    assert err.startswith("zoo: error: ") and err.count("\n") == 1, err[-2000:]
    assert "Traceback" not in err
    assert case.cause.format(**world) in err, err
    assert snapshot(*watched) == before


class ApiCase(NamedTuple):
    """A Python API call on a shipped model, the cause its ZooError must name, and the CLI line
    that makes the same check (the same message), where there is one."""
    name: str
    model: str
    call: Callable
    cause: str
    cli: list[str] | None = None


CLASSIFIER, ADDER, TRANSLATOR = "simple_rnn_fashion_mnist", "simple_rnn_binary_addition", "seq2seq_addition"
WRITER, DRAWER = "char_lm_lyrics", "lstm_fashion_mnist_generator"
API_CASES = [
    ApiCase("classify NaN pixels", CLASSIFIER, lambda m: m.classify(np.full((1, 28, 28), np.nan)),
            "found NaN or infinite values"),
    ApiCase("classify pixels of 7", CLASSIFIER, lambda m: m.classify(np.full((1, 28, 28), 7.0)),
            "found values from 7 to 7"),
    ApiCase("classify a (1, 28, 27) array", CLASSIFIER, lambda m: m.classify(np.zeros((1, 28, 27))),
            "or (N, 28, 28), got (1, 28, 27)"),
    ApiCase("classify an empty batch", CLASSIFIER, lambda m: m.classify(np.zeros((0, 28, 28))),
            "images: expected at least one image"),
    ApiCase("classify strings", CLASSIFIER, lambda m: m.classify([["a"] * 28] * 28),
            "expected uint8 pixels or floats in [0, 1], got <U1"),
    ApiCase("logits of a wrong shape", CLASSIFIER, lambda m: m.logits(np.zeros((2, 28, 27))),
            "input 'rows': expected shape (batch, any, 28), got (2, 28, 27)"),
    ApiCase("logits of an empty batch", CLASSIFIER, lambda m: m.logits(np.zeros((0, 28, 28))),
            "input 'rows': expected a batch of at least one example"),
    ApiCase("evaluate limit 0", CLASSIFIER, lambda m: m.evaluate(limit=0), "limit 0: expected a whole number >= 1"),
    ApiCase("classify with a language model", WRITER, lambda m: m.classify(np.zeros((1, 28, 28))),
            "classify needs a classification model, this one is language_model"),
    ApiCase("translate beam 0", TRANSLATOR, lambda m: m.translate(["1+1"], beam=0),
            "beam 0: expected a whole number >= 1", ["translate", TRANSLATOR, "1+1", "--beam", "0"]),
    ApiCase("translate 12+", TRANSLATOR, lambda m: m.translate(["12+"]),
            "input '12+': expected two numbers of 1 to 3 digits joined by +", ["translate", TRANSLATOR, "12+"]),
    ApiCase("translate an empty list", TRANSLATOR, lambda m: m.translate([]),
            "source: expected a string or a non-empty list of strings, got list (empty)"),
    ApiCase("translate a number", TRANSLATOR, lambda m: m.translate(12),
            "source: expected a string or a non-empty list of strings, got int"),
    ApiCase("add 12+", ADDER, lambda m: m.add("12+"), "input '12+': expected a sum of two whole numbers",
            ["predict", ADDER, "12+"]),
    ApiCase("add an empty list", ADDER, lambda m: m.add([]),
            "sum: expected a string or a non-empty list of strings, got list (empty)"),
    ApiCase("generate length 0", WRITER, lambda m: m.generate("分开", 0), "length 0: expected a whole number >= 1",
            ["generate", WRITER, "--prompt", "分开", "--length", "0"]),
    ApiCase("generate top_p 2", WRITER, lambda m: m.generate("分开", 5, top_p=2.0),
            "top_p 2.0: expected a finite number > 0 and <= 1",
            ["generate", WRITER, "--prompt", "分开", "--length", "5", "--top-p", "2"]),
    ApiCase("generate temperature nan", WRITER, lambda m: m.generate("分开", 5, temperature=float("nan")),
            "temperature nan: expected a finite number >= 0",
            ["generate", WRITER, "--prompt", "分开", "--temperature", "nan"]),
    ApiCase("generate an empty prompt", WRITER, lambda m: m.generate("", 5), "prompt: expected at least one character",
            ["generate", WRITER, "--prompt", ""]),
    ApiCase("draw an unknown class", DRAWER, lambda m: m.generate("Sneakers"), "class 'Sneakers': expected one of",
            ["generate", DRAWER, "--class", "Sneakers"]),
    ApiCase("draw 0 pictures", DRAWER, lambda m: m.generate("Bag", count=0),
            "count 0: expected a whole number in 1..10000", ["generate", DRAWER, "--class", "Bag", "--count", "0"]),
    ApiCase("draw with a seed of -1", DRAWER, lambda m: m.generate("Bag", seed=-1),
            "seed -1: expected a whole number in 0..4294967295",
            ["generate", DRAWER, "--class", "Bag", "--seed", "-1"]),
]


def test_every_api_case_names_a_cause_of_its_own():
    assert len({case.name for case in API_CASES}) == len(API_CASES)
    assert [case.name for case in API_CASES if not names_a_cause(case.cause)] == []


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
@pytest.mark.parametrize("case", API_CASES, ids=[case.name for case in API_CASES])
def test_the_python_api_refuses_what_the_cli_refuses(case, engine, shipped_models, capsys):
    with pytest.raises(ZooError) as excinfo:
        case.call(shipped_models(case.model, engine))
    message = str(excinfo.value)
    assert isinstance(excinfo.value, ValueError) and "\n" not in message
    assert case.cause in message, message
    if case.cli is not None:
        capsys.readouterr()
        assert main(["--backend", BACKEND, *case.cli, "--engine", engine]) == 2
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
