"""Wall time until each recipe reaches its quality threshold, per backend, next to the plain
PyTorch program of the task; and the training GFLOP/s each achieves against this CPU's peak.

    python benchmarks/time_to_quality.py [--cases fashion_lstm,...] [--backends tensorflow,jax,torch]
                                         [--repeats 1] [--json results.json] [--plot curves.png]
                                         [--zoo-recipe batch_size=256 learning_rate=4e-3 ...]

Cases, thresholds and the plain program each is compared with:

- ``fashion_lstm_fast``, ``fashion_lstm``: ``zoo train lstm_fashion_mnist_fast`` (the recipe for
  time to quality) and ``lstm_fashion_mnist`` (the recipe for the best final model), 0.89 test
  accuracy; the tutorial's 2 x nn.LSTM(128) -> Linear, Adam 1e-3, batch 100, all 60,000
  training images.
- ``fashion_simple_rnn``: ``simple_rnn_fashion_mnist``, 0.87 test accuracy; 2 x nn.RNN(128, tanh),
  Adam 1e-3, batch 100, gradients clipped to norm 1.
- ``shakespeare``: ``char_lm_shakespeare``, validation loss 1.50 nats/char; Embedding(64) ->
  2 x nn.LSTM(512) -> Linear, Adam 2e-3, batch 64 windows of 100 characters, clip 1.
- ``shakespeare_hawk``: ``hawk_shakespeare`` (a parallel-scan family of the same weight count),
  the same threshold and plain program as ``shakespeare`` (run once for both).
- ``addition``: ``seq2seq_addition``, 0.99 exact match of greedy decoding on every operand
  length of the test problems; an nn.LSTM(256) encoder-decoder, Embedding(32), Adam 2e-3,
  batch 128, teacher forcing.
- ``addition_every_step``: the same recipe with ``context="every_step"`` (the encoder's last
  output joins every decoder input, beside the initial states), the same threshold and plain
  program as ``addition`` (run once for both).

``--zoo-recipe NAME=VALUE ...`` changes the zoo recipes' settings (any field of
:class:`zoo.recipe.Recipe`, such as ``batch_size``, ``learning_rate``, ``warmup_epochs``) for
the zoo's programs only: a lever, measured against the same plain program.

``--full`` trains every zoo recipe to its end instead of stopping at the threshold (the
threshold epoch is still reported, and the addition cases record each operand length's exact
match after every epoch in ``--json``).

Both sides read the same data through the zoo's loaders (the plain programs take the arrays
and write everything else in plain PyTorch). Every program runs in its own process, alone on
the machine, the programs of one repeat one after the other (plain first, then each backend).
The clock starts before the data is loaded. After every epoch the threshold is checked on the
held-out split; that check is not timed, everything the user waits for is (the zoo's own
validation pass included). A program stops at the first epoch at the threshold, or at the end
of its recipe (plain programs: `--max-epochs`), or after the first epoch past `--max-minutes`.

GFLOP/s counts the matrix products of training (forward, and twice that backward) of the
recurrent and output layers, per example, times the examples trained, over the training time;
the peaks are this CPU's (:func:`peak_gflops`: float32 by its FMA units, bfloat16 by AMX
tiles or AVX512-BF16), at the clock /proc/cpuinfo reports.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from throughput import machine, zoo_environment  # noqa: E402

STARTED = time.perf_counter()  # the clock of this process's program starts at its import


@dataclasses.dataclass(frozen=True)
class Case:
    recipe: str
    metric: str
    threshold: float
    higher_is_better: bool = True
    plain: str = ""  # the plain program compared with: the case's own name unless another's
    model_options: tuple = ()  # (name, value) pairs changed in the recipe's model options

    def plain_program(self, name: str) -> str:
        return self.plain or name

    def reached(self, value: float) -> bool:
        return value >= self.threshold if self.higher_is_better else value <= self.threshold


CASES = {
    "fashion_lstm_fast": Case("lstm_fashion_mnist_fast", "test accuracy", 0.89),
    "fashion_lstm": Case("lstm_fashion_mnist", "test accuracy", 0.89),
    "fashion_simple_rnn": Case("simple_rnn_fashion_mnist", "test accuracy", 0.87),
    "shakespeare": Case("char_lm_shakespeare", "validation loss (nats/char)", 1.50, higher_is_better=False),
    "shakespeare_hawk": Case("hawk_shakespeare", "validation loss (nats/char)", 1.50, higher_is_better=False,
                             plain="shakespeare"),
    "addition": Case("seq2seq_addition", "lowest exact match over operand lengths", 0.99),
    "addition_every_step": Case("seq2seq_addition", "lowest exact match over operand lengths", 0.99,
                                plain="addition", model_options=(("context", "every_step"),)),
}


def case_recipe(case: Case):
    """The case's recipe with its model option changes."""
    from zoo.recipe import load_recipe

    recipe = load_recipe(case.recipe)
    return recipe.replace(model_options={**recipe.model_options, **dict(case.model_options)})


# ---------------------------------------------------------------------- FLOPs
def matmul_flops(inputs: int, outputs: int) -> int:
    """Training FLOPs of one (inputs x outputs) matrix product for one example step:
    2 per multiply-add forward, twice that backward (input and weight gradients)."""
    return 3 * 2 * inputs * outputs


def recurrent_flops(kind: str, inputs: int, units: int) -> int:
    """One step of an LSTM / GRU / SimpleRNN layer: its gate matrices on input and state."""
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[kind]
    return matmul_flops(inputs + units, gates * units)


def model_flops(case: str, recipe, model_options: dict) -> float:
    """Training FLOPs per example of the recipe's network (zoo side) or the plain program's."""
    o = model_options
    if case.startswith("fashion"):
        kind = "simple_rnn" if "simple_rnn" in case else "lstm"
        directions = 2 if o.get("bidirectional") else 1
        units, layers, inputs, per_step = o.get("units", 128), o.get("num_layers", 2), 28, 0
        for _ in range(layers):
            per_step += directions * recurrent_flops(kind, inputs, units)
            inputs = directions * units
        return 28 * per_step + matmul_flops(inputs, 10)
    if case.startswith("shakespeare") and recipe.model != "char_lm":
        return 100 * dense_flops(recipe, model_options)
    if case == "shakespeare":
        units, layers, inputs, per_step = o.get("units", 512), o.get("num_layers", 2), o.get("embedding_dim", 64), 0
        for _ in range(layers):
            per_step += recurrent_flops("lstm", inputs, units)
            inputs = units
        return 100 * (per_step + matmul_flops(units, o.get("vocab_size", 65)))
    units, embedding = o.get("units", 256), o.get("embedding_dim", 32)
    vocab = o.get("target_vocab_size", o.get("vocab_size", 14))
    decoder_inputs = embedding + (units if o.get("context") == "every_step" else 0)
    source_len, target_len = 7, 5  # "123+456" reversed; "579" plus the end symbol, padded
    return (source_len * recurrent_flops("lstm", embedding, units)
            + target_len * (recurrent_flops("lstm", decoder_inputs, units) + matmul_flops(units, vocab)))


def dense_flops(recipe, model_options: dict) -> int:
    """Training FLOPs per token of a model without recurrent matrices (the scan families):
    every 2-D kernel but the embedding table is one matrix product per token."""
    from zoo.registry import create_model

    model = create_model(recipe.model, recipe.preset, **model_options)
    return sum(matmul_flops(*w.shape) for w in model.weights
               if len(w.shape) == 2 and "embedding" not in w.path and "conv" not in w.path)


def peak_gflops() -> dict:
    """This CPU's peak GFLOP/s over all cores, float32 and bfloat16, from /proc/cpuinfo.

    FLOP per cycle and core: float32 64 with AVX-512 on two full-width FMA units (Intel), 32
    on AMD's family 25 (Zen 3 has AVX2 only, Zen 4 runs AVX-512 on 256-bit units) and with
    AVX2 alone; bfloat16 1,024 on AMX tiles, twice float32 with AVX512-BF16 alone (each
    float32 lane of VDPBF16PS takes two products), else float32's."""
    mhz, flags, family, amd = 0.0, set(), 0, False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key == "cpu MHz":
                    mhz = max(mhz, float(value))
                elif key == "flags":
                    flags = set(value.split())
                elif key == "cpu family":
                    family = int(value)
                elif key == "vendor_id":
                    amd = value == "AuthenticAMD"
    except (OSError, ValueError):
        pass
    float32 = 64 if "avx512f" in flags and not (amd and family <= 25) else 32 if "fma" in flags else 16
    bfloat16, unit = ((1024, "AMX") if "amx_bf16" in flags else (2 * float32, "AVX512-BF16")
                      if "avx512_bf16" in flags else (float32, "none, float32's"))
    cores = os.cpu_count() or 1
    return {"float32": float32 * cores * mhz / 1e3, "bfloat16": bfloat16 * cores * mhz / 1e3, "bfloat16_unit": unit}


# ---------------------------------------------------------------------- the zoo side
def zoo_program(case_name: str, max_seconds: float, full: bool = False, settings: dict | None = None) -> dict:
    """``zoo train <recipe>`` as shipped on this process's backend, stopped at the threshold
    (`full`: at the recipe's end); `settings` change recipe fields (``--zoo-recipe``)."""
    import keras

    from zoo.tasks import get_task
    from zoo.training import train

    case = CASES[case_name]
    recipe = case_recipe(case).replace(**(settings or {}))
    task = get_task(recipe.task)

    class Threshold(keras.callbacks.Callback):
        """After each epoch, the case's quality on the held-out split; its own time is not counted."""

        def __init__(self):
            super().__init__()
            self.epochs, self.not_timed, self.examples, self.checker = [], 0.0, 0, None
            self.training_seconds, self.epoch_started = 0.0, None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()

        def _end_of_training_steps(self):
            if self.epoch_started is not None:  # the epoch's training steps end where validation begins
                self.training_seconds += time.perf_counter() - self.epoch_started
                self.epoch_started = None

        def on_test_begin(self, logs=None):
            self._end_of_training_steps()

        def on_epoch_end(self, epoch, logs=None):
            self._end_of_training_steps()
            self.examples += self.params["steps"] * recipe.batch_size
            scoring = time.perf_counter()
            if case_name.startswith("shakespeare"):
                value = float(logs["val_loss"])
            else:
                if self.checker is None:  # the task's own metric on the held-out examples
                    data = task.prepare(recipe, seed=0, limit=None, data_dir=None, batch_size=recipe.batch_size)
                    self.checker = (task.keras_inference(self.model, data, recipe), data.examples)
                metrics = task.measure(*self.checker)
                lengths = {k: v for k, v in metrics.items() if k.startswith("test_exact_match_")}
                value = float(metrics["test_accuracy"]) if "accuracy" in case.metric else min(lengths.values())
            self.epochs.append({"epoch": epoch + 1, "seconds": round(scoring - STARTED - self.not_timed, 1),
                                "quality": round(value, 4), "examples": self.examples,
                                "training_seconds": round(self.training_seconds, 2)})
            if case_name.startswith("addition"):
                self.epochs[-1]["by_length"] = {k.removeprefix("test_exact_match_"): round(v, 4)
                                                for k, v in lengths.items()}
            print(json.dumps(self.epochs[-1]), file=sys.stderr, flush=True)
            self.not_timed += time.perf_counter() - scoring
            if (case.reached(value) and not full) or self.epochs[-1]["seconds"] > max_seconds:
                self.model.stop_training = True

    threshold = Threshold()
    with tempfile.TemporaryDirectory() as folder:
        train(recipe, out_dir=os.path.join(folder, "run"), verbose=0, extra_callbacks=[threshold])
        config = json.loads(open(os.path.join(folder, "run", "config.json")).read())
    return {"epochs": threshold.epochs, "precision": config["precision"], "settings": settings or {},
            "flops_per_example": model_flops(case_name, recipe, config["model_options"])}


# ---------------------------------------------------------------------- the plain side
def plain_program(case_name: str, max_epochs: int, max_seconds: float) -> dict:
    """The task's plain PyTorch program (module docstring), scored after every epoch."""
    import numpy as np
    import torch
    from torch import nn

    from zoo.tasks import get_task

    torch.manual_seed(0)
    case = CASES[case_name]
    recipe = case_recipe(case)
    # The Fashion programs read all 60,000 training images themselves, as the tutorial does.
    data = None if case_name.startswith("fashion") else get_task(recipe.task).prepare(
        recipe, seed=0, limit=None, data_dir=None, batch_size=recipe.batch_size)
    long = lambda a: torch.from_numpy(np.asarray(a, "int64"))  # noqa: E731

    if case_name.startswith("fashion"):
        from zoo.data import images

        splits = images.load_image_rows("fashion_mnist", validation_size=0)  # the tutorial trains on all 60,000
        x_train, y_train = torch.from_numpy(np.asarray(splits.x_train, "float32")), long(splits.y_train)
        x_test, y_test = torch.from_numpy(np.asarray(splits.x_test, "float32")), long(splits.y_test)
        recurrent = nn.RNN if "simple_rnn" in case_name else nn.LSTM
        options = {"units": 128, "num_layers": 2}

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = recurrent(28, 128, num_layers=2, batch_first=True)
                self.out = nn.Linear(128, 10)

            def forward(self, x):
                return self.out(self.rnn(x)[0][:, -1])

        model, batch, clip, lr = Net(), 100, 1.0 if case_name == "fashion_simple_rnn" else None, 1e-3
        loss_fn = nn.CrossEntropyLoss()

        def batches():
            for rows in torch.randperm(len(x_train)).split(batch):
                yield (x_train[rows],), y_train[rows]

        def quality():
            with torch.no_grad():
                return float((model(x_test).argmax(-1) == y_test).float().mean())

    elif case_name == "shakespeare":
        vocab_size = len(data.vocab)
        options = {"units": 512, "num_layers": 2, "embedding_dim": 64, "vocab_size": vocab_size}
        x_val, y_val = (long(a) for a in data.validation)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, 64)
                self.rnn = nn.LSTM(64, 512, num_layers=2, batch_first=True)
                self.out = nn.Linear(512, vocab_size)

            def forward(self, x):
                return self.out(self.rnn(self.embed(x))[0])

        model, clip, lr = Net(), 1.0, 2e-3
        cross_entropy = nn.CrossEntropyLoss()
        loss_fn = lambda logits, y: cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))  # noqa: E731

        def batches():
            data.train.start_epoch(len(epochs))  # the zoo's seeded random windows, a new draw each epoch
            for step in range(len(data.train)):
                x, y = data.train[step]
                yield (long(x),), long(y)

        def quality():
            with torch.no_grad():
                return float(sum(loss_fn(model(x_val[i:i + 256]), y_val[i:i + 256]) * len(x_val[i:i + 256])
                                 for i in range(0, len(x_val), 256)) / len(x_val))

    else:  # addition
        vocab = data.vocab
        vocab_size = len(vocab)
        options = {"units": 256, "embedding_dim": 32, "vocab_size": vocab_size}
        (source, decoder_in), decoder_out = data.train.x, data.train.y
        source, decoder_in, decoder_out = long(source), long(decoder_in), long(decoder_out)
        examples = data.examples
        (test_source, _), _ = data.test
        test_source = long(test_source)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, 32)
                self.encoder = nn.LSTM(32, 256, batch_first=True)
                self.decoder = nn.LSTM(32, 256, batch_first=True)
                self.out = nn.Linear(256, vocab_size)

            def forward(self, src, tgt_in):
                _, state = self.encoder(self.embed(src))
                return self.out(self.decoder(self.embed(tgt_in), state)[0])

            def greedy(self, src, length):
                _, state = self.encoder(self.embed(src))
                token = torch.full((len(src), 1), vocab.start_id)
                out = []
                for _ in range(length):
                    step, state = self.decoder(self.embed(token), state)
                    token = self.out(step).argmax(-1)
                    out.append(token)
                return torch.cat(out, 1)

        model, batch, clip, lr = Net(), 128, None, 2e-3
        cross_entropy = nn.CrossEntropyLoss()
        loss_fn = lambda logits, y: cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))  # noqa: E731

        def batches():
            for rows in torch.randperm(len(source)).split(batch):
                yield (source[rows], decoder_in[rows]), decoder_out[rows]

        def quality():
            from zoo.data import generated

            with torch.no_grad():
                ids = model.greedy(test_source, decoder_out.shape[1]).numpy()
            predictions = [vocab.decode(row) for row in ids]
            pairs = list(zip(examples.inputs, examples.targets))
            metrics = generated.exact_match_by_digits(pairs, predictions)
            return min(v for k, v in metrics.items() if k.startswith("test_exact_match_"))

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    epochs, not_timed, trained, training_seconds = [], 0.0, 0, 0.0
    for epoch in range(max_epochs):
        model.train()
        epoch_started = time.perf_counter()
        for inputs, y in batches():
            optimizer.zero_grad()
            loss_fn(model(*inputs), y).backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            trained += len(y)
        scoring = time.perf_counter()
        training_seconds += scoring - epoch_started
        model.eval()
        value = quality()
        epochs.append({"epoch": epoch + 1, "seconds": round(scoring - STARTED - not_timed, 1),
                       "quality": round(value, 4), "examples": trained, "training_seconds": round(training_seconds, 2)})
        print(json.dumps(epochs[-1]), file=sys.stderr, flush=True)
        not_timed += time.perf_counter() - scoring
        if case.reached(value) or epochs[-1]["seconds"] > max_seconds:
            break
    return {"epochs": epochs, "precision": "float32", "flops_per_example": model_flops(case_name, recipe, options)}

# ---------------------------------------------------------------------- the table
def run_program(case: str, side: str, max_epochs: int, max_minutes: float, full: bool = False,
                zoo_env: dict | None = None, settings: dict | None = None) -> dict:
    """One program in a fresh process (`side`: "plain" or a Keras backend; `zoo_env` and
    `settings`: more environment and recipe settings for the zoo's programs only)."""
    backend = "torch" if side == "plain" else side
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           **(zoo_env if side != "plain" and zoo_env else {})}
    out = subprocess.run([sys.executable, __file__, "--one", case, side, "--max-epochs", str(max_epochs),
                          "--max-minutes", str(max_minutes), *(["--full"] if full else []),
                          *(["--settings", json.dumps(settings)] if settings and side != "plain" else [])],
                         env=env, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{case} on {side} failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(case: Case, runs: list[dict], peaks: dict) -> dict:
    """Median wall time to the threshold over the repeats (None if one missed it), and the
    training GFLOP/s up to the threshold epoch (or the last)."""
    times, gflops, best, hits = [], [], [], []
    for run in runs:
        epochs = run["epochs"]
        hit = next((e for e in epochs if case.reached(e["quality"])), None)
        hits.append(hit)
        times.append(hit and hit["seconds"])
        last = hit or epochs[-1]
        gflops.append(run["flops_per_example"] * last["examples"] / max(last["training_seconds"], 1e-9) / 1e9)
        best.append((max if case.higher_is_better else min)(e["quality"] for e in epochs))
    reached = all(t is not None for t in times)
    hit = hits[0]
    peak = peaks["bfloat16" if "bfloat16" in runs[0]["precision"] else "float32"]
    return {"seconds": statistics.median(times) if reached else None, "all_seconds": times,
            "epochs": hit and hit["epoch"], "ran": len(runs[0]["epochs"]), "last_seconds": runs[0]["epochs"][-1]["seconds"],
            "best": (max if case.higher_is_better else min)(best), "precision": runs[0]["precision"],
            "gflops": statistics.median(gflops), "peak_share": statistics.median(gflops) / peak if peak else None}


def print_table(results: dict, backends: list[str], repeats: int, peaks: dict, zoo_env: dict,
                settings: dict) -> None:
    print(f"\nmachine: {machine()}; peak GFLOP/s float32 {peaks['float32']:.0f}, bfloat16 "
          f"({peaks['bfloat16_unit']}) {peaks['bfloat16']:.0f}; median of {repeats} run(s) each, alone on the machine"
          + (f"; zoo environment {zoo_env}" if zoo_env else "") + (f"; zoo recipes with {settings}" if settings else "")
          + "\n")
    print("| case | threshold | program | precision | epochs to threshold | wall time to threshold | vs plain "
          "| best seen | training GFLOP/s | share of peak |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, by_side in results.items():
        case = CASES[name]
        plain = summary(case, by_side["plain"], peaks)
        for side in ["plain", *backends]:
            s = plain if side == "plain" else summary(case, by_side[side], peaks)
            label = "plain PyTorch" if side == "plain" else f"zoo {case.recipe} ({side})"
            wall = f"{s['seconds']:.0f} s" if s["seconds"] is not None else f"not reached (> {s['last_seconds']:.0f} s)"
            ratio = (f"{s['seconds'] / plain['seconds']:.2f}x" if side != "plain" and s["seconds"] and plain["seconds"]
                     else "")
            print(f"| {name} | {case.metric} {'>=' if case.higher_is_better else '<='} {case.threshold} | {label} | "
                  f"{s['precision']} | {s['epochs'] or '-'} of {s['ran']} | {wall} | {ratio} | {s['best']:.4f} | "
                  f"{s['gflops']:.1f} | {100 * s['peak_share']:.2f}% |")


def plot(results: dict, path: str) -> None:
    """Quality against wall time, one panel per case, one line per program (first repeat)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, (name, by_side) in zip(axes[0], results.items()):
        case = CASES[name]
        for side, runs in by_side.items():
            epochs = runs[0]["epochs"]
            ax.plot([e["seconds"] / 60 for e in epochs], [e["quality"] for e in epochs], marker=".",
                    label="plain PyTorch" if side == "plain" else f"zoo ({side})")
        ax.axhline(case.threshold, color="grey", linestyle=":")
        ax.set(title=f"{name} ({case.recipe})", xlabel="wall minutes", ylabel=case.metric)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=40, help="plain programs: stop after this many epochs")
    parser.add_argument("--max-minutes", type=float, default=float("inf"),
                        help="stop any program after the first epoch that ends past this wall time")
    parser.add_argument("--full", action="store_true", help="zoo recipes train to their end (module docstring)")
    parser.add_argument("--json", help="also write the per-epoch results here")
    parser.add_argument("--plot", help="also draw quality against wall time into this PNG")
    parser.add_argument("--zoo-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="environment variables for the zoo's programs only, e.g. ZOO_TF_INTRA_OP_THREADS=0")
    parser.add_argument("--zoo-recipe", nargs="*", default=[], metavar="NAME=VALUE",
                        help="recipe settings for the zoo's programs only, e.g. batch_size=256 learning_rate=4e-3")
    parser.add_argument("--one", nargs=2, metavar=("CASE", "SIDE"), help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        case, side = args.one
        limit = 60 * args.max_minutes
        result = (plain_program(case, args.max_epochs, limit) if side == "plain" else
                  zoo_program(case, limit, args.full, json.loads(args.settings or "{}")))
        print(json.dumps(result))
        return

    zoo_env = zoo_environment(parser, args.zoo_env)
    settings = recipe_settings(parser, args.zoo_recipe)
    cases, backends = args.cases.split(","), args.backends.split(",")
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        raise SystemExit(f"--cases: unknown {', '.join(unknown)}; expected some of {', '.join(CASES)}")
    if settings:  # a value the recipe refuses is refused here, before any program runs
        from zoo.errors import ZooError

        for case in cases:
            try:
                case_recipe(CASES[case]).replace(**settings)
            except ZooError as error:
                parser.error(f"--zoo-recipe: {error}")
    results = {case: {side: [] for side in ["plain", *backends]} for case in cases}
    for _ in range(args.repeats):
        plain_runs = {}  # cases sharing a plain program run it once per repeat
        for case in cases:
            plain = CASES[case].plain_program(case)
            if plain not in plain_runs:
                plain_runs[plain] = run_program(plain, "plain", args.max_epochs, args.max_minutes)
            results[case]["plain"].append(plain_runs[plain])
            for side in backends:
                results[case][side].append(run_program(case, side, args.max_epochs, args.max_minutes, args.full,
                                                       zoo_env, settings))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.plot:
        plot(results, args.plot)
    print_table(results, backends, args.repeats, peak_gflops(), zoo_env, settings)


def recipe_settings(parser: argparse.ArgumentParser, items: list[str]) -> dict:
    """``--zoo-recipe``'s NAME=VALUE items as recipe fields, each value read as JSON (a number)
    or else kept as text; a name that is not a recipe field is the parser's usage error."""
    from zoo.recipe import Recipe

    settings = zoo_environment(parser, items, "--zoo-recipe")
    fields = {field.name for field in dataclasses.fields(Recipe)} - {"name", "model", "task"}
    unknown = sorted(set(settings) - fields)
    if unknown:
        parser.error(f"--zoo-recipe: unknown {', '.join(unknown)}; expected recipe fields such as batch_size, "
                     f"learning_rate")

    def value(text: str):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    return {name: value(text) for name, text in settings.items()}


if __name__ == "__main__":
    main()
