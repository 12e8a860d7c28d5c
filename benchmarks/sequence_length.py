"""Training throughput and peak memory against sequence length: the LSTM char LM and the
parallel-scan families (min_gru, min_lstm, hawk), per backend.

    python benchmarks/sequence_length.py [--models char_lm,min_gru,min_lstm,hawk]
        [--backends tensorflow,jax,torch] [--lengths 100,256,1024] [--steps 10] [--json out.json]
        [--jit-compile true|false]   # a compile lever: XLA for TensorFlow (Keras's auto is off on a CPU)
        [--scan associative|odd-even|sequential|none]   # how the scan families run their recurrence

Every model is its ``default`` preset (3.3M weights each; ``char_lm`` is
``char_lm_shakespeare``'s 2 x LSTM(512)), trained with Adam on random tokens of a 65-character
vocabulary, in the precision ``--precision auto`` picks on this machine for that backend. A
batch holds 6,400 characters whatever the length (batch 64 x 100, 25 x 256, 6 x 1,024), so a
longer window trades batch rows for time steps: the LSTM walks more steps with smaller
matrices; a scan family's matrix products stay the same size. Each (model, backend, length)
runs in a fresh process: a first `fit` of 3 batches (compiling) is not timed, then `--steps`
batches are. Peak memory is the process's peak resident set (ru_maxrss) less its resident
set before the model was built: the model, optimizer, activations kept for the backward pass
and the backend's workspace.

``--scan`` swaps, in the benchmark's process only, how ``linear_recurrence`` runs on tensorflow
and jax (torch keeps its loop): ``associative`` is the zoo's (``keras.ops.associative_scan``),
``odd-even`` the zoo's keras.ops scan of the same recursion without ``tf.cond`` (the one
``jit_compile`` can take on TensorFlow), ``sequential`` one multiply-add per step in
``keras.ops.scan`` (a while loop), ``none`` skips the recurrence (h = b: a wrong model, the
upper bound of what any scan can save).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from throughput import machine  # noqa: E402

CHARS_PER_BATCH = 6400
MODELS = ("char_lm", "min_gru", "min_lstm", "hawk")


def resident_mib() -> float:
    """This process's resident set now, in MiB (Linux /proc)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def use_scan(kind: str) -> None:
    """Run the scan families' recurrence the `kind` way (module docstring) in this process;
    torch keeps the zoo's loop."""
    import keras
    from keras import ops

    from zoo.models import parallel_rnn

    if kind == "associative" or keras.backend.backend() == "torch":
        return
    zoo_recurrence = parallel_rnn.linear_recurrence

    def recurrence(a, b, h0):
        if a.shape[1] is None:  # an open time axis (exports): the zoo's doubling scan
            return zoo_recurrence(a, b, h0)
        if kind == "none":
            return b
        if kind == "odd-even":
            products, from_zero = parallel_rnn._odd_even_scan(a, b)
            return from_zero + products * h0[:, None, :]

        def step(h, coefficients):
            h = coefficients[0] * h + coefficients[1]
            return h, h

        _, h = ops.scan(step, h0, (ops.moveaxis(a, 1, 0), ops.moveaxis(b, 1, 0)))
        return ops.moveaxis(h, 0, 1)

    parallel_rnn.linear_recurrence = recurrence


def measure(model_name: str, length: int, steps: int, jit_compile="auto", scan="associative") -> dict:
    """Characters per second and peak training memory of `model_name` on windows of `length`."""
    import keras
    import numpy as np

    from zoo.distribute.precision import resolve_precision
    from zoo.registry import create_model

    use_scan(scan)
    precision = resolve_precision("auto")
    keras.mixed_precision.set_global_policy(precision)
    batch = max(1, CHARS_PER_BATCH // length)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 65, (batch * (steps + 3), length)).astype("int32")
    y = rng.integers(0, 65, x.shape).astype("int32")
    before = resident_mib()
    # char_lm: char_lm_shakespeare's network
    overrides = dict(units=512, num_layers=2, embedding_dim=64, dropout=0.0) if model_name == "char_lm" else {}
    model = create_model(model_name, "default", vocab_size=65, **overrides)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit_compile)
    model.fit(x[: 3 * batch], y[: 3 * batch], batch_size=batch, verbose=0)
    start = time.perf_counter()
    model.fit(x[3 * batch:], y[3 * batch:], batch_size=batch, verbose=0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"chars_per_s": steps * batch * length / seconds, "peak_mib": peak - before, "batch": batch,
            "precision": precision}


def run(model_name: str, backend: str, length: int, steps: int, jit_compile="auto", scan="associative") -> dict:
    """`measure` in a fresh process on `backend`."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    code = ("import json, sys; sys.path.insert(0, 'benchmarks'); import sequence_length as s; "
            f"print('RESULT', json.dumps(s.measure({model_name!r}, {length}, {steps}, {jit_compile!r}, {scan!r})))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--lengths", default="100,256,1024")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json")
    parser.add_argument("--jit-compile", choices=["true", "false"], help="Model.compile's jit_compile (default: auto)")
    parser.add_argument("--scan", choices=["associative", "odd-even", "sequential", "none"], default="associative",
                        help="the scan families' recurrence on tensorflow and jax (module docstring)")
    args = parser.parse_args()
    jit_compile = {"true": True, "false": False, None: "auto"}[args.jit_compile]
    lengths = [int(n) for n in args.lengths.split(",")]
    print(f"# {machine()}; batch = {CHARS_PER_BATCH} characters / length; jit_compile={jit_compile}; "
          f"scan {args.scan}; one run each")
    print("| model | backend | precision | " + " | ".join(f"{n} chars: chars/s, peak MiB" for n in lengths) + " |")
    print("|---|---|---|" + "---|" * len(lengths))
    results = []
    for backend in args.backends.split(","):
        for model_name in args.models.split(","):
            cells, precision = [], "?"
            for length in lengths:
                r = run(model_name, backend, length, args.steps, jit_compile, args.scan)
                results.append({"model": model_name, "backend": backend, "length": length, **r})
                if "error" in r:
                    cells.append(f"failed: {r['error'][:60]}")
                else:
                    precision = r["precision"]
                    cells.append(f"{r['chars_per_s']:,.0f}, {r['peak_mib']:,.0f}")
            print(f"| {model_name} | {backend} | {precision} | " + " | ".join(cells) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
