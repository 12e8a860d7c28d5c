"""Mixed precision against float32: training speed and accuracy of one recipe, per backend.

    python benchmarks/precision.py [--recipe lstm_fashion_mnist] [--backends tensorflow,jax,torch]
        [--precisions float32,mixed_bfloat16,mixed_float16] [--epochs 3] [--limit 6000] [--repeats 3]

Each (backend, precision) pair runs ``zoo train RECIPE --precision P --epochs E --limit L``
through :func:`zoo.training.train` in a fresh process, `--repeats` times, alternating (time
it on an otherwise idle machine). The table shows the training throughput of the epochs after the
first (which compiles), its ratio to float32 on the same backend, and the test metric of the
published model, which is float32 whatever the training precision.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from throughput import machine  # noqa: E402  (the same machine line as the other benchmarks)


def one_run(recipe_name: str, precision: str, epochs: int, limit: int) -> dict:
    """Train once in this process: training examples per second (median of the epochs after
    the first, training batches only) and the test metrics."""
    import keras

    from zoo.recipe import load_recipe
    from zoo.tasks import TASKS
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
    examples = TASKS[recipe.task].prepare(recipe, seed=0, limit=limit, data_dir=None, batch_size=recipe.batch_size).train.size
    timer = EpochTimes()
    with tempfile.TemporaryDirectory() as folder:
        metrics = train(recipe, out_dir=os.path.join(folder, "run"), limit=limit, verbose=0, precision=precision,
                        extra_callbacks=[timer])
    return {"examples_per_second": examples / statistics.median(timer.seconds[1:] or timer.seconds), "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="lstm_fashion_mnist")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--precisions", default="float32,mixed_bfloat16,mixed_float16")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.recipe, args.one, args.epochs, args.limit)))
        return

    runs = {}
    for repeat in range(args.repeats):
        for backend in args.backends.split(","):
            for precision in args.precisions.split(","):  # alternating, so load drifts hit every row alike
                env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
                out = subprocess.run([sys.executable, __file__, "--recipe", args.recipe, "--epochs", str(args.epochs),
                                      "--limit", str(args.limit), "--one", precision],
                                     env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"{backend} {precision} failed:\n{out.stderr[-2000:]}")
                runs.setdefault((backend, precision), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(backend, precision, json.dumps(runs[backend, precision][-1]), flush=True)

    metric = next(k for k in next(iter(runs.values()))[0]["metrics"] if k.startswith("test_")
                  and k not in ("test_loss", "test_examples"))

    def median(backend, precision, key):
        values = [run["examples_per_second"] if key == "speed" else run["metrics"][key] for run in runs[backend, precision]]
        return statistics.median(values)

    print(f"\nmachine: {machine()}; {args.recipe}, --limit {args.limit}, {args.epochs} epochs per run, median of "
          f"{args.repeats} alternating runs; throughput is each run's median of epochs 2..{args.epochs}, training "
          f"batches only\n")
    print(f"| backend | precision | training examples/s | vs float32 | {metric} | test_loss |")
    print("|---|---|---|---|---|---|")
    for backend, precision in runs:
        speed = median(backend, precision, "speed")
        ratio = f"{speed / median(backend, 'float32', 'speed'):.2f}x" if (backend, "float32") in runs else "-"
        print(f"| {backend} | {precision} | {speed:,.0f} | {ratio} | {median(backend, precision, metric):.4f} | "
              f"{median(backend, precision, 'test_loss'):.4f} |")


if __name__ == "__main__":
    main()
