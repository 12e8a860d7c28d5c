"""Training options against the default: mixed precision and data-parallel training, their
speed and accuracy on one recipe, per backend.

    python benchmarks/training_options.py [--recipe lstm_fashion_mnist] [--backends tensorflow,jax,torch]
        [--precisions float32,mixed_bfloat16,mixed_float16] [--distribute none]
        [--virtual-devices N] [--epochs 2] [--limit 6000] [--repeats 3]

Each (backend, precision, distribute) row runs ``zoo train RECIPE --precision P --distribute D
--epochs E --limit L`` through :func:`zoo.training.train` in a fresh process, `--repeats`
times, alternating (time it on an otherwise idle machine). `--virtual-devices N` splits the
CPU into N devices in every process (jax: XLA's host device count; tensorflow: logical CPUs),
for data-parallel runs without several real devices. The table shows the training
throughput of the epochs after the first (which compiles), its ratio to the float32,
one-device row of the same backend, and the test metric of the published model, which is a
float32 one-device model whatever the options.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from throughput import machine  # noqa: E402  (the same machine line as the other benchmarks)


def one_run(recipe_name: str, precision: str, distribute: str, epochs: int, limit: int) -> dict:
    """Train once in this process: training examples per second (median of the epochs after
    the first, training batches only) and the test metrics."""
    if os.environ.get("VIRTUAL_DEVICES") and os.environ.get("KERAS_BACKEND") == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * int(os.environ["VIRTUAL_DEVICES"]))
    import keras

    from zoo.recipe import load_recipe
    from zoo.tasks import get_task
    from zoo.training import train

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last_batch = time.perf_counter()  # validation, after it, is not timed

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(self.last_batch - self.started)

    recipe = load_recipe(recipe_name).replace(epochs=epochs)
    epoch = get_task(recipe.task).prepare(recipe, seed=0, limit=limit, data_dir=None, batch_size=recipe.batch_size).train
    # Examples an epoch trains on: the arrays' rows, or a window dataset's batches of windows.
    examples = getattr(epoch, "size", len(epoch) * epoch.batch_size)
    timer = EpochTimes()
    with tempfile.TemporaryDirectory() as folder:
        metrics = train(recipe, out_dir=os.path.join(folder, "run"), limit=limit, verbose=0, precision=precision,
                        distribute=distribute, extra_callbacks=[timer])
    return {"examples_per_second": examples / statistics.median(timer.seconds[1:] or timer.seconds), "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="lstm_fashion_mnist")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--precisions", default="float32,mixed_bfloat16,mixed_float16")
    parser.add_argument("--distribute", default="none", help="comma-separated: none,data-parallel")
    parser.add_argument("--virtual-devices", type=int, help="split the CPU into this many devices")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.recipe, *args.one, args.epochs, args.limit)))
        return

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if args.virtual_devices:
        env.update(VIRTUAL_DEVICES=str(args.virtual_devices),
                   XLA_FLAGS=f"--xla_force_host_platform_device_count={args.virtual_devices}")
    rows = list(itertools.product(args.backends.split(","), args.precisions.split(","), args.distribute.split(",")))
    runs = {}
    for repeat in range(args.repeats):
        for backend, precision, distribute in rows:  # alternating, so load drifts hit every row alike
            out = subprocess.run([sys.executable, __file__, "--recipe", args.recipe, "--epochs", str(args.epochs),
                                  "--limit", str(args.limit), "--one", precision, distribute],
                                 env=dict(env, KERAS_BACKEND=backend), capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"{backend} {precision} {distribute} failed:\n{out.stderr[-2000:]}")
            runs.setdefault((backend, precision, distribute), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(backend, precision, distribute, json.dumps(runs[backend, precision, distribute][-1]), flush=True)

    metric = next(k for k in next(iter(runs.values()))[0]["metrics"] if k.startswith("test_")
                  and k not in ("test_loss", "test_examples"))

    def median(row, key):
        return statistics.median(run["examples_per_second"] if key == "speed" else run["metrics"][key] for run in runs[row])

    devices = f", CPU split into {args.virtual_devices} devices" if args.virtual_devices else ""
    print(f"\nmachine: {machine()}{devices}; {args.recipe}, --limit {args.limit}, {args.epochs} epochs per run, "
          f"median of {args.repeats} alternating runs; throughput is each run's median of epochs 2..{args.epochs}, "
          f"training batches only\n")
    print(f"| backend | precision | distribute | training examples/s | vs float32, one device | {metric} | test_loss |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        speed, base = median(row, "speed"), (row[0], "float32", "none")
        ratio = f"{speed / median(base, 'speed'):.2f}x" if base in runs else "-"
        print(f"| {' | '.join(row)} | {speed:,.0f} | {ratio} | {median(row, metric):.4f} | {median(row, 'test_loss'):.4f} |")


if __name__ == "__main__":
    main()
