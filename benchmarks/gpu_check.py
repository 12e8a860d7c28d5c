"""One backend's part of ``benchmarks/gpu_check.sh``: the recipes on the GPU, cuDNN, throughput.

    KERAS_BACKEND=jax python benchmarks/gpu_check.py recipes --out DIR [--limit 2048]
    KERAS_BACKEND=jax python benchmarks/gpu_check.py throughput [--steps 30]

``recipes`` trains one short epoch (`--limit` examples per split) of every recipe into
``DIR/<recipe>`` and prints one JSON line per recipe: the device, the precision ``auto``
chose, the seconds, and how many recurrent layer calls took Keras's cuDNN path (Keras tries
``backend.lstm`` / ``backend.gru`` first, its cuDNN kernels, and falls back to a scan loop when
they refuse; the wrapper below counts which). ``throughput`` times the Fashion network
(2 x bidirectional LSTM(128), batch 100 and 1,000) through ``fit`` next to plain PyTorch's
cuDNN ``nn.LSTM`` on the same GPU. Without a GPU both say so and run on the CPU, which makes
them a dry run of the script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

CUDNN_CALLS = {"cudnn": 0, "fallback": 0}


def count_cudnn_calls() -> None:
    """Wrap Keras's backend LSTM/GRU entry points (its cuDNN kernels) to count which path ran."""
    from keras.src import backend

    for name in ("lstm", "gru"):
        original = getattr(backend, name)

        def counted(*args, _original=original, **kwargs):
            try:
                result = _original(*args, **kwargs)
            except NotImplementedError:
                CUDNN_CALLS["fallback"] += 1
                raise
            CUDNN_CALLS["cudnn"] += 1
            return result

        setattr(backend, name, counted)


def device() -> str:
    from zoo.distribute.precision import gpu_compute_capability

    capability = gpu_compute_capability()
    return f"GPU (compute capability {capability[0]}.{capability[1]})" if capability else "CPU (no GPU seen)"


def recipes(out: str, limit: int, skip: set) -> None:
    import keras

    from zoo.recipe import list_recipes, load_recipe
    from zoo.training import train

    count_cudnn_calls()
    for name in sorted(set(list_recipes()) - skip):
        recipe = load_recipe(name)
        CUDNN_CALLS.update(cudnn=0, fallback=0)
        started = time.perf_counter()
        try:
            metrics = train(recipe.replace(epochs=1), out_dir=os.path.join(out, name), limit=limit, overwrite=True,
                            verbose=0)
            error = None
        except Exception as exc:  # reported, and the next recipe still runs
            metrics, error = {}, f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        config_path = os.path.join(out, name, "config.json")
        precision = json.load(open(config_path))["precision"] if os.path.exists(config_path) else None
        print(json.dumps({"backend": keras.backend.backend(), "recipe": name, "device": device(),
                          "precision": precision, "seconds": round(time.perf_counter() - started, 1),
                          "cudnn_calls": CUDNN_CALLS["cudnn"], "fallback_calls": CUDNN_CALLS["fallback"],
                          "error": error, **{k: v for k, v in metrics.items() if k.startswith("test_")}}), flush=True)


def throughput(steps: int) -> None:
    """Images per second of the Fashion network's training steps: zoo on this backend, plain
    PyTorch with cuDNN (on torch's GPU) beside it."""
    import keras
    import numpy as np

    from zoo.distribute import precision_policy
    from zoo.recipe import load_recipe
    from zoo.registry import create_model
    from zoo.tasks import get_task
    from zoo.training import compile_model

    recipe = load_recipe("lstm_fashion_mnist")
    for batch in (100, 1000):
        x = np.random.default_rng(0).random((batch * steps, 28, 28), dtype=np.float32)
        y = np.random.default_rng(1).integers(0, 10, batch * steps)
        with precision_policy(recipe.precision):
            model = create_model(recipe.model, recipe.preset, **recipe.model_options)
            compile_model(model, recipe, get_task(recipe.task))
        model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, epochs=1, verbose=0)  # compile, warm up
        started = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        zoo = batch * steps / (time.perf_counter() - started)
        print(json.dumps({"backend": keras.backend.backend(), "device": device(), "batch": batch,
                          "zoo_images_per_s": round(zoo), "plain_pytorch_images_per_s": round(plain_pytorch(batch, steps))}),
              flush=True)


def plain_pytorch(batch: int, steps: int) -> float:
    """The same network in plain PyTorch (cuDNN's nn.LSTM where there is a GPU), float32."""
    import torch
    from torch import nn

    where = "cuda" if torch.cuda.is_available() else "cpu"
    net = nn.ModuleDict({"lstm": nn.LSTM(28, 128, num_layers=2, batch_first=True, bidirectional=True, dropout=0.3),
                         "out": nn.Linear(256, 10)}).to(where)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(batch, 28, 28, device=where)
    y = torch.randint(0, 10, (batch,), device=where)

    def step():
        optimizer.zero_grad()
        nn.functional.cross_entropy(net["out"](net["lstm"](x)[0][:, -1]), y).backward()
        optimizer.step()

    for _ in range(4):
        step()
    if where == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if where == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["recipes", "throughput"])
    parser.add_argument("--out", default="gpu_check_runs")
    parser.add_argument("--limit", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=30)
    # MNIST comes only from a download, and the GPU machines reach no network: tfds's retries
    # took 205 s of the budget in the dry run.
    parser.add_argument("--skip", default="lstm_mnist", help="recipes to leave out, comma-separated")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if args.part == "recipes":
        recipes(args.out, args.limit, set(filter(None, args.skip.split(","))))
    else:
        throughput(args.steps)


if __name__ == "__main__":
    main()
