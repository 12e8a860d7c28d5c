"""Model cards: the README.md of a shipped model, written from its ``card.json`` figures."""

from __future__ import annotations


from zoo.tasks import get_task

COUNT_SUFFIXES = ("_examples", "_characters")


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _usage(card) -> list[str]:
    name = card["name"]
    python, cli = get_task(card["task"]).usage(name, card["samples"])
    return ["```python", "import zoo", f'm = zoo.load("{name}")                    # Keras, current backend',
            f'm = zoo.load("{name}", engine="{card["export"]["formats"][0]}")     # no Keras', python,
            f'model = zoo.from_pretrained("{name}")     # a compiled keras.Model, to fine-tune with fit',
            "```", "", "```", cli, "```"]


def render(card: dict) -> str:
    """The model card of a shipped model as Markdown."""
    t, metrics, task = card["training"], card["metrics"], get_task(card["task"])
    exported = card["export"]["formats"][0]  # the shipped export's format
    lines = [f"# {card['name']}", "", card["description"], "",
             f"Model family `{card['model']}` ({', '.join(f'{k}={v}' for k, v in card['model_options'].items())}), "
             f"trained by the recipe `{card['recipe']}`. Size of this folder: {card['size_bytes'] / 1e6:.1f} MB.", "",
             "## Use", "", *_usage(card), "",
             "## Data and splits", "", task.data_text(card["data"]), "",
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
              f"| metric | keras | {exported} |", "|---|---|---|"]
    for name, value in check["keras"].items():
        lines.append(f"| `{name}` | {_fmt(value)} | {_fmt(check[exported].get(name))} |")
    lines += _figure_lines(card.get("figures", {}), exported)
    lines += ["", "Reproduce (the run folder, then this folder from it):", "", "```",
              t["command"], card["ship_command"], "```", "",
              "## Training", "",
              f"- backend {t['backend']}, {_precision(t)}seed {t['seed']}, {t['epochs']} epochs (best {t['best_epoch']}, early "
              f"stopping restores it), {t['seconds'] / 60:.1f} min of training in its last session (a resumed run's "
              "earlier sessions are not counted)"
              if t.get("seconds") else f"- backend {t['backend']}, {_precision(t)}seed {t['seed']}, {t['epochs']} epochs",
              f"- machine: {t['machine']}",
              "- versions: " + ", ".join(f"{k} {v}" for k, v in t["versions"].items()),
              "- `history.csv` and `curves.png` hold every epoch; `config.json` the resolved recipe.", "",
              "## Files and export", "",
              "`model.keras` holds the weights without optimizer state (`from_pretrained` compiles a fresh "
              "optimizer). `export/` holds the ONNX artifacts and their manifest, verified against the Keras "
              f"model when shipped (tolerance {card['export']['verification']['tolerance']['absolute']:g} plus "
              f"{card['export']['verification']['tolerance']['relative']:g} x |output|; largest absolute difference "
              + ", ".join(f"{a}: {d:.1e}" for a, d in card["export"]["verification"]["max_abs_diff"].get(exported, {}).items())
              + "). The SavedModel and `.keras` copies of the export are left out to keep the folder small: "
              f"`zoo export saved_models/{card['name']} --out DIR` rebuilds them. `card.json` lists every file's "
              "sha256.", "",
              *(["## What was tried", "", card["notes"], ""] if card.get("notes") else []),
              "## Intended use and limits", "", task.use_and_limits, "",
              "## Sample outputs", "", *task.sample_lines(card["samples"])]
    return "\n".join(lines).rstrip() + "\n"


def _precision(training: dict) -> str:
    """The card's words for the training precision; cards shipped before it was recorded say none."""
    return f"precision {training['precision']}, " if training.get("precision") else ""


def _figure_lines(figures: dict, exported: str) -> list[str]:
    """Figures measured with other shipped models (through the shipped export): each one's
    settings on a line, then its values by name."""
    lines = []
    for name, figure in figures.items():
        settings = ", ".join(f"{k} {_fmt(v)}" for k, v in figure.items() if not isinstance(v, dict))
        lines += ["", f"`{name}` (through {exported}; {settings}):", ""]
        for key, values in ((k, v) for k, v in figure.items() if isinstance(v, dict)):
            lines += [f"| {key.replace('_', ' ')} | value |", "|---|---|",
                      *(f"| {k} | {_fmt(v)} |" for k, v in values.items())]
    return lines
