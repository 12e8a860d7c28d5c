"""Model cards: the README.md of a shipped model, written from its ``card.json`` figures."""

from __future__ import annotations

import json

# What each task's model is for and where it stops being right, by task.
USE_AND_LIMITS = {
    "classification": (
        "Classifies 28x28 gray images of the dataset's kind (Fashion-MNIST: centred product photos, light object "
        "on a dark background) into its classes. `zoo predict` and `classify` take `.npy` arrays and IDX files "
        "as they are, and PNG or JPEG pictures of any size made like the dataset's images: padded to a square "
        "with their border colour, resized to 28x28, colour to gray (transparent pixels as white paper), 16-bit "
        "gray scaled by its full range, and inverted when their border is mostly light (`--invert auto`; "
        "`yes` or `no` to decide). A photo unlike the dataset (cluttered background, several objects, a person "
        "wearing the garment) is outside what it was trained on: its answer and probability mean little. Not "
        "for decisions about people."
    ),
    "language_model": (
        "Continues a text one character at a time in the style of its training corpus; a demonstration and a "
        "starting point for fine-tuning (`zoo.from_pretrained`), not a source of facts. Characters outside its "
        "vocabulary are refused in a prompt. It reproduces the spelling, names and line layout of its corpus "
        "and can repeat passages of it."
    ),
    "seq2seq": (
        "Translates short strings of the generated task it was trained on; sources must use its characters and "
        "fit its source length. Outside the training distribution (longer operands, other operators) the "
        "answers are wrong without warning."
    ),
}

DATA = {
    "fashion_mnist": ("Fashion-MNIST (Zalando), read from the IDX files of Debian's `dataset-fashion-mnist`: "
                      "60,000 training images of which a seeded 5,000 are held out for validation (early stopping, "
                      "learning-rate schedule, best epoch), and the 10,000 test images, used only for the figures "
                      "below."),
    "tiny_shakespeare": ("tiny_shakespeare through tensorflow-datasets (built offline from `input.txt`), with "
                         "tfds's own train / validation / test splits (1,003,854 / 55,770 / 55,770 characters); "
                         "the vocabulary is the training split's characters plus 4 reserved ids."),
    "jaychou_lyrics": "The tutorial's Chinese lyrics, cut in order into 90% train, 5% validation and 5% test.",
    "addition": ("Generated problems `a+b` whose operand lengths (1 to 3 digits) are drawn uniformly, sources "
                 "reversed. Validation and test problems are distinct and never trained on: each class of "
                 "operand lengths gives them an equal share, at most 15% of its problems (so 15 of the 100 "
                 "one-digit problems each); training draws 100,000 examples with replacement from the rest."),
    "word_pairs": "The tutorial's six word pairs; a memorisation task with no held-out pairs.",
}


def _data_text(card) -> str:
    d = card["data"]
    key = d.get("dataset") or d.get("source") or d.get("task")
    return DATA.get(key, json.dumps(d))


COUNT_SUFFIXES = ("_examples", "_characters")


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _usage(card) -> list[str]:
    name, task = card["name"], card["task"]
    if task == "classification":
        python, cli = 'm.classify(images)   # (class names, probabilities)', f"zoo predict {name} shirt.png"
    elif task == "language_model":
        prompt = card["samples"][0]["prompt"] if card["samples"] else "a"
        python = f'm.generate({prompt!r}, 200, temperature=0.8, seed=0)'
        cli = f"zoo generate {name} --prompt {json.dumps(prompt)}"
    else:
        source = card["samples"][0]["source"]
        python, cli = f'm.translate({source!r}, beam=3)', f'zoo translate {name} "{source}"'
    return ["```python", "import zoo", f'm = zoo.load("{name}")                    # Keras, current backend',
            f'm = zoo.load("{name}", engine="onnx")     # no Keras', python,
            f'model = zoo.from_pretrained("{name}")     # a compiled keras.Model, to fine-tune with fit',
            "```", "", "```", cli, "```"]


def render(card: dict) -> str:
    """The model card of a shipped model as Markdown."""
    t, metrics = card["training"], card["metrics"]
    lines = [f"# {card['name']}", "", card["description"], "",
             f"Model family `{card['model']}` ({', '.join(f'{k}={v}' for k, v in card['model_options'].items())}), "
             f"trained by the recipe `{card['recipe']}`. Size of this folder: {card['size_bytes'] / 1e6:.1f} MB.", "",
             "## Use", "", *_usage(card), "",
             "## Data and splits", "", _data_text(card), "",
             "## Figures", "",
             "Measured once, on the split named: the full test split by the training run, the validation split "
             "at the best epoch, and a check slice (the first "
             f"{card['check']['examples']:,} test examples) by `zoo ship` through Keras and through onnxruntime. CI "
             f"re-measures the check slice on every backend and fails beyond {card['check']['tolerance']}.", "",
             "| metric | split | value |", "|---|---|---|"]
    counts = {k: v for k, v in metrics.items() if k.endswith(COUNT_SUFFIXES) or "_examples_" in k}
    for name, value in metrics.items():
        split = name.split("_")[0]
        if split in ("test", "train") and name not in counts and not name.startswith("train_seconds"):
            size = counts.get(name.replace("exact_match", "examples"), counts.get(f"{split}_examples",
                                                                                  counts.get(f"{split}_characters")))
            lines.append(f"| `{name}` | {split} ({'all' if size is None else f'all {size:,}'}) | {_fmt(value)} |")
    for name, value in card["validation"].items():
        lines.append(f"| `{name}` | validation, best epoch ({t['best_epoch']}) | {_fmt(value)} |")
    check = card["check"]
    lines += ["", f"Check slice (first {check['examples']:,} test examples):", "",
              "| metric | keras | onnx |", "|---|---|---|"]
    for name, value in check["keras"].items():
        lines.append(f"| `{name}` | {_fmt(value)} | {_fmt(check['onnx'].get(name))} |")
    lines += ["", "Reproduce (the run folder, then this folder from it):", "", "```",
              t["command"], card["ship_command"], "```", "",
              "## Training", "",
              f"- backend {t['backend']}, seed {t['seed']}, {t['epochs']} epochs (best {t['best_epoch']}, early "
              f"stopping restores it), {t['seconds'] / 60:.1f} min of training in its last session (a resumed run's "
              "earlier sessions are not counted)"
              if t.get("seconds") else f"- backend {t['backend']}, seed {t['seed']}, {t['epochs']} epochs",
              f"- machine: {t['machine']}",
              "- versions: " + ", ".join(f"{k} {v}" for k, v in t["versions"].items()),
              "- `history.csv` and `curves.png` hold every epoch; `config.json` the resolved recipe.", "",
              "## Files and export", "",
              "`model.keras` holds the weights without optimizer state (`from_pretrained` compiles a fresh "
              "optimizer). `export/` holds the ONNX artifacts and their manifest, verified against the Keras "
              f"model when shipped (tolerance {card['export']['verification']['tolerance']['absolute']:g} plus "
              f"{card['export']['verification']['tolerance']['relative']:g} x |output|; largest absolute difference "
              + ", ".join(f"{a}: {d:.1e}" for a, d in card["export"]["verification"]["max_abs_diff"].get("onnx", {}).items())
              + "). The SavedModel and `.keras` copies of the export are left out to keep the folder small: "
              f"`zoo export saved_models/{card['name']} --out DIR` rebuilds them. `card.json` lists every file's "
              "sha256.", "",
              *(["## What was tried", "", card["notes"], ""] if card.get("notes") else []),
              "## Intended use and limits", "", USE_AND_LIMITS[card["task"]], "",
              "## Sample outputs", ""]
    for sample in card["samples"]:
        if card["task"] == "classification":
            lines.append(f"- {sample['input']} ({sample['label']}): {sample['predicted']} {sample['probability']:.2f}")
        elif card["task"] == "language_model":
            lines += [f"temperature {sample['temperature']}, seed {sample['seed']}:", "", "```",
                      sample["text"], "```", ""]
        else:
            lines.append(f"- `{sample['source']}` -> `{sample['translation']}`")
    return "\n".join(lines).rstrip() + "\n"
