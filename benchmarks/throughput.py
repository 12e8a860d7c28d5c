"""Training throughput of the recipes' networks on each backend, next to plain PyTorch.

    python benchmarks/throughput.py [--networks fashion,char_lm,addition]
        [--backends tensorflow,jax,torch] [--repeats 3] [--steps 20]
        [--steps-per-execution N] [--jit-compile true|false]       # compile levers
        [--input recipe|arrays] [--workers N] [--threads INTRA[,INTER]]  # input and threads
        [--batch-size N]                                            # the zoo side's batch
        [--zoo-env NAME=VALUE ...]                                  # the zoo side's environment

For each network the zoo's own training path (the recipe's data pipeline, model, compile
settings and `fit`, in a fresh process per backend) and a plain PyTorch program of the
same network (`nn.LSTM`, Adam, a Python loop: the tutorial's style, written below) train
`--steps` batches after a warm-up (the zoo timed inside one `fit`, see `step_clock`); the
runs alternate (plain, tensorflow, jax, torch, plain, ...) and the table shows the median of
`--repeats` runs, in examples (or characters) per second, and each backend's ratio to plain
PyTorch; a second table gives every column's spread over its fresh processes (slowest,
fastest, and the fastest over the slowest), so an engine whose speed is chosen at process
start shows as such (TensorFlow's was, see docs/performance.md). Time it on an otherwise
idle machine.

The networks are the recipes': `lstm_fashion_mnist` (2 x LSTM(128) over 28 rows),
`char_lm_shakespeare` (2 x LSTM(512), batch 64 x 100 characters) and `seq2seq_addition`
(LSTM(256) encoder-decoder, batch 128). Validation is not timed. The lever options change
only the zoo's side, so one run measures a lever against plain PyTorch in the same table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

NETWORKS = {
    # name: (recipe, unit of throughput)
    "fashion": ("lstm_fashion_mnist", "images/s"),
    "char_lm": ("char_lm_shakespeare", "chars/s"),
    "addition": ("seq2seq_addition", "problems/s"),
}


WARMUP_STEPS = 16  # a first fit, not timed: compiling, and a process's first, slower steps
CLOCK_START = 8  # the timed fit's first call of 8 steps (tensorflow, jax), not timed either


def zoo_environment(parser: argparse.ArgumentParser, items: list[str], option: str = "--zoo-env") -> dict:
    """`option`'s NAME=VALUE items as a dict (``--zoo-env``, which time_to_quality.py takes too,
    and its ``--zoo-recipe``); an item without '=' is the parser's usage error."""
    if any("=" not in item for item in items):
        parser.error(f"{option}: expected NAME=VALUE items")
    return dict(item.split("=", 1) for item in items)


# ---------------------------------------------------------------------- the zoo's own path
def zoo_throughput(recipe_name: str, steps: int, engine: dict, pipeline: dict) -> float:
    """Examples (characters for a language model) per second of `fit` on the recipe's data;
    `engine` overrides compile options (``steps_per_execution``, ``jit_compile``) to try them,
    `pipeline` the input (``input``: ``arrays`` feeds the same batches as in-memory arrays
    instead of the recipe's ``PyDataset``; ``workers``: the dataset's prefetch threads;
    ``batch_size``: another batch than the recipe's)."""
    import keras

    from zoo.recipe import load_recipe
    from zoo.registry import create_model
    from zoo.tasks import get_task
    from zoo.training import compile_model

    recipe = load_recipe(recipe_name)
    task = get_task(recipe.task)
    keras.utils.set_random_seed(0)
    batch_size = pipeline.get("batch_size") or recipe.batch_size
    data = task.prepare(recipe, seed=0, limit=None, data_dir=None, batch_size=batch_size)
    model = create_model(recipe.model, recipe.preset, **{**recipe.model_options, **data.model_options})
    compile_model(model, recipe, task, **engine)
    fit_model, _ = task.training_model(model, data, recipe)
    if fit_model is not model:
        compile_model(fit_model, recipe, task, **engine)
    x, y = data.train[0]
    per_batch = y.size if recipe.task == "language_model" else len(y)
    if pipeline.get("input") == "arrays":  # the same batches, built before timing
        batches = [data.train[i % len(data.train)] for i in range(WARMUP_STEPS + steps)]
        inputs, targets = keras.tree.map_structure(lambda *parts: np.concatenate(parts), *batches)
        rows = len(keras.tree.flatten(y)[0])

        def fit(n, callbacks=()):
            fit_model.fit(*keras.tree.map_structure(lambda a: a[:n * rows], (inputs, targets)), batch_size=rows,
                          epochs=1, verbose=0, shuffle=False, callbacks=list(callbacks))
    else:
        if pipeline.get("workers"):
            data.train.workers = pipeline["workers"]

        def fit(n, callbacks=()):
            fit_model.fit(data.train, epochs=1, steps_per_epoch=n, verbose=0, shuffle=False, callbacks=list(callbacks))
    fit(WARMUP_STEPS)  # compiling, and a process's first steps, which run slower
    clock = step_clock(CLOCK_START)
    fit(CLOCK_START + steps, [clock])
    return steps * per_batch / clock.seconds


def step_clock(warmup: int):
    """A Keras callback timing the steps after the first `warmup` ones, up to the end of `fit`
    (its ``seconds``).

    Timing inside one `fit` leaves out what `fit` does once per call (its iterator over the
    dataset, the callbacks): real training pays that once per epoch of hundreds of steps,
    while timing a whole 16-step `fit` charged a 16th of it to every step. The plain PyTorch
    loop is timed after its warm-up too.
    """
    import keras

    class StepClock(keras.callbacks.Callback):
        started = seconds = None

        def on_train_batch_end(self, batch, logs=None):
            # With several steps per call, Keras reports once per call, with its last step.
            if self.started is None and batch + 1 >= warmup:
                if batch + 1 != warmup:
                    raise SystemExit(f"the warm-up of {warmup} steps does not end where a call ends")
                # JAX dispatches asynchronously: wait for the warm-up's results first.
                keras.tree.map_structure(lambda value: np.asarray(value), logs or {})
                self.started = time.perf_counter()

        def on_train_end(self, logs=None):
            self.seconds = time.perf_counter() - self.started

    return StepClock()


def set_threads(kind: str, threads: str) -> None:
    """Intra-op (and, after a comma, inter-op) thread counts of `kind`'s runtime, set before
    it starts (JAX: only the intra-op count, through XLA's flags)."""
    intra, _, inter = threads.partition(",")
    if kind == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(intra))
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(int(inter))
    elif kind == "jax":
        flags = f"--xla_cpu_multi_thread_eigen={'false' if intra == '1' else 'true'} intra_op_parallelism_threads={intra}"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
    else:  # torch, under Keras or plain
        import torch

        torch.set_num_threads(int(intra))
        if inter:
            torch.set_num_interop_threads(int(inter))


# ---------------------------------------------------------------------- plain PyTorch
def torch_throughput(network: str, steps: int) -> float:
    """The same network in plain PyTorch on random data of the recipe's shapes."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    if network == "fashion":  # the recipe's: 2 x bidirectional LSTM(128), dropout 0.3, batch 100
        batch, shape = 100, (28, 28)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(28, 128, num_layers=2, batch_first=True, dropout=0.3, bidirectional=True)
                self.dropout = nn.Dropout(0.3)
                self.out = nn.Linear(256, 10)

            def forward(self, x):
                _, (h, _) = self.lstm(x)  # the last layer's final states, forward and backward
                return self.out(self.dropout(torch.cat([h[-2], h[-1]], dim=-1)))

        net = Net()
        make = lambda: (torch.rand(batch, *shape), torch.randint(0, 10, (batch,)))  # noqa: E731
        per_batch = batch
    elif network == "char_lm":
        batch, seq_len, vocab = 64, 100, 69

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab, 64)
                self.lstm = nn.LSTM(64, 512, num_layers=2, batch_first=True, dropout=0.2)
                self.dropout = nn.Dropout(0.2)
                self.out = nn.Linear(512, vocab)

            def forward(self, x):
                return self.out(self.dropout(self.lstm(self.embed(x))[0])).reshape(-1, vocab)

        net = Net()
        make = lambda: (torch.randint(0, vocab, (batch, seq_len)), torch.randint(0, vocab, (batch * seq_len,)))  # noqa: E731
        per_batch = batch * seq_len
    else:
        batch, source_len, target_len, vocab = 128, 7, 5, 15

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.source_embed = nn.Embedding(vocab, 32)
                self.target_embed = nn.Embedding(vocab, 32)
                self.encoder = nn.LSTM(32, 256, batch_first=True)
                self.decoder = nn.LSTM(32, 256, batch_first=True)
                self.out = nn.Linear(256, vocab)

            def forward(self, xs):
                source, decoder_in = xs
                _, state = self.encoder(self.source_embed(source))
                y, _ = self.decoder(self.target_embed(decoder_in), state)
                return self.out(y).reshape(-1, vocab)

        net = Net()
        make = lambda: ((torch.randint(0, vocab, (batch, source_len)), torch.randint(0, vocab, (batch, target_len))),  # noqa: E731
                        torch.randint(0, vocab, (batch * target_len,)))
        per_batch = batch
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    batches = [make() for _ in range(4)]

    def train(n):
        net.train()
        for i in range(n):
            x, y = batches[i % len(batches)]
            optimizer.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            if network == "char_lm":
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()

    train(WARMUP_STEPS)
    started = time.perf_counter()
    train(steps)
    return steps * per_batch / (time.perf_counter() - started)


# ---------------------------------------------------------------------- driver
def measure(kind: str, network: str, steps: int, engine: dict, pipeline: dict, zoo_env: dict) -> float:
    """One measurement in a fresh process (the Keras backend is fixed per process)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(zoo_env if kind != "plain" else {})}
    if kind == "torch-keras":  # the torch backend on Keras's own RNN path, without zoo.compat.torch_rnn
        kind, env["ZOO_FUSED_RNN"] = "torch", "0"
    if kind != "plain":
        env["KERAS_BACKEND"] = kind
    out = subprocess.run([sys.executable, __file__, "--one", kind, network, str(steps), json.dumps(engine),
                          json.dumps(pipeline)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{kind} {network} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["throughput"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch

    return f"{cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--backends", default="tensorflow,jax,torch",
                        help="also torch-keras: torch with Keras's own (unfused) RNN path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--steps-per-execution", type=int, help="try a compile option (default: the zoo's)")
    parser.add_argument("--jit-compile", choices=["true", "false"], help="try a compile option (default: the zoo's)")
    parser.add_argument("--input", choices=["recipe", "arrays"], default="recipe",
                        help="try the input pipeline: the recipe's PyDataset, or the same batches as arrays")
    parser.add_argument("--workers", type=int, help="try the PyDataset's prefetch threads (default: 1, none)")
    parser.add_argument("--threads", help="try thread settings on the zoo's side: INTRA[,INTER] op threads")
    parser.add_argument("--batch-size", type=int,
                        help="try another batch on the zoo's side (plain PyTorch keeps the recipe's)")
    parser.add_argument("--zoo-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="environment variables for the zoo's processes only, e.g. ZOO_MMAP_THRESHOLD=0")
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, network, steps, engine, pipeline = args.one
        pipeline = json.loads(pipeline)
        if pipeline.get("threads") and kind != "plain":
            set_threads(kind, pipeline["threads"])
        value = (torch_throughput(network, int(steps)) if kind == "plain"
                 else zoo_throughput(NETWORKS[network][0], int(steps), json.loads(engine), pipeline))
        print(json.dumps({"throughput": value}))
        return

    engine = {}
    if args.steps_per_execution:
        engine["steps_per_execution"] = args.steps_per_execution
    if args.jit_compile:
        engine["jit_compile"] = args.jit_compile == "true"
    pipeline = {key: value for key, value in (("input", args.input if args.input != "recipe" else None),
                                               ("workers", args.workers), ("threads", args.threads),
                                               ("batch_size", args.batch_size)) if value}
    zoo_env = zoo_environment(parser, args.zoo_env)
    kinds = ["plain", *args.backends.split(",")]
    results = {}
    for network in args.networks.split(","):
        for repeat in range(args.repeats):
            for kind in kinds:  # alternating, so drifts in machine load hit every column alike
                value = measure(kind, network, args.steps, engine, pipeline, zoo_env)
                results.setdefault((network, kind), []).append(value)
                print(f"{network} {kind} run {repeat + 1}: {value:,.0f} {NETWORKS[network][1]}", flush=True)
    print(f"\nmachine: {machine()}; median of {args.repeats} alternating runs, {args.steps} timed steps each"
          + (f"; compile options {engine}" if engine else "") + (f"; pipeline {pipeline}" if pipeline else "")
          + (f"; zoo environment {zoo_env}" if zoo_env else "") + "\n")
    print("| network | unit | plain PyTorch | " + " | ".join(f"zoo {k}" for k in kinds[1:]) + " |")
    print("|---|---|---|" + "---|" * (len(kinds) - 1))
    for network in args.networks.split(","):
        base = statistics.median(results[(network, "plain")])
        cells = [f"{statistics.median(results[(network, k)]):,.0f} ({statistics.median(results[(network, k)]) / base:.2f}x)"
                 for k in kinds[1:]]
        print(f"| {NETWORKS[network][0]} | {NETWORKS[network][1]} | {base:,.0f} | " + " | ".join(cells) + " |")
    print(f"\nspread over the {args.repeats} fresh processes of each column: slowest - fastest (fastest / slowest)\n")
    print("| network | plain PyTorch | " + " | ".join(f"zoo {k}" for k in kinds[1:]) + " |")
    print("|---|---|" + "---|" * (len(kinds) - 1))
    for network in args.networks.split(","):
        cells = [spread(results[(network, k)]) for k in kinds]
        print(f"| {NETWORKS[network][0]} | " + " | ".join(cells) + " |")


def spread(values: list[float]) -> str:
    """A column's spread over its processes: "slowest - fastest (fastest / slowest)"."""
    return f"{min(values):,.0f} - {max(values):,.0f} ({max(values) / min(values):.2f}x)"


if __name__ == "__main__":
    main()
