"""Wall time to reach a Fashion-MNIST test accuracy: the zoo's lstm_fashion_mnist recipe next
to the plain PyTorch tutorial model.

    python benchmarks/time_to_accuracy.py [--target 0.89] [--backend torch] [--max-epochs 30]

The tutorial model is written below in plain PyTorch, the tutorial's way: 2 x nn.LSTM(128)
over the 28 rows, a linear layer, Adam 1e-3, batch 100, all 60,000 training images reshuffled
each epoch. The zoo side is ``zoo train lstm_fashion_mnist`` on `--backend` as shipped
(bidirectional, dropout, shifted images, validation on 5,000 held-out training images each
epoch). After every epoch both are scored on the 10,000 test images; scoring is not timed,
everything else is (the zoo's validation pass included: a user waits for it). Each stops at
the first epoch whose test accuracy reaches `--target`, or after `--max-epochs`. The two run
one after the other, each alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from throughput import machine  # noqa: E402


def fashion_arrays():
    """((all 60,000 training images, labels), (test images, labels)), scaled to [0, 1]."""
    from zoo.data import images

    splits = images.load_image_rows("fashion_mnist", validation_size=0)
    return (splits.x_train, splits.y_train), (splits.x_test, splits.y_test)


def plain_pytorch(target: float, max_epochs: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    (x_train, y_train), (x_test, y_test) = fashion_arrays()
    x_train, y_train = torch.from_numpy(np.asarray(x_train, "float32")), torch.from_numpy(np.asarray(y_train, "int64"))
    x_test, y_test = torch.from_numpy(np.asarray(x_test, "float32")), torch.from_numpy(np.asarray(y_test, "int64"))
    torch.manual_seed(0)

    class Tutorial(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(28, 128, num_layers=2, batch_first=True)
            self.out = nn.Linear(128, 10)

        def forward(self, x):
            return self.out(self.lstm(x)[0][:, -1])

    model = Tutorial()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    elapsed, epochs = 0.0, []
    for epoch in range(max_epochs):
        started = time.perf_counter()
        model.train()
        for rows in torch.randperm(len(x_train)).split(100):
            optimizer.zero_grad()
            loss_fn(model(x_train[rows]), y_train[rows]).backward()
            optimizer.step()
        elapsed += time.perf_counter() - started
        model.eval()
        with torch.no_grad():
            accuracy = float((model(x_test).argmax(-1) == y_test).float().mean())
        epochs.append({"epoch": epoch + 1, "seconds": round(elapsed, 1), "test_accuracy": round(accuracy, 4)})
        print(json.dumps(epochs[-1]), file=sys.stderr, flush=True)
        if accuracy >= target:
            break
    return {"epochs": epochs}


def zoo_recipe(target: float, max_epochs: int) -> dict:
    import keras

    from zoo.recipe import load_recipe
    from zoo.training import train

    (_, _), (x_test, y_test) = fashion_arrays()

    class ScoreOnTest(keras.callbacks.Callback):
        """After each epoch (validation included), the test accuracy; its own time is not counted."""

        def __init__(self):
            super().__init__()
            self.epochs, self.not_timed = [], 0.0

        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            scoring = time.perf_counter()
            logits = self.model.predict(x_test, batch_size=1000, verbose=0)
            accuracy = float((logits.argmax(-1) == y_test).mean())
            self.epochs.append({"epoch": epoch + 1, "seconds": round(scoring - self.started - self.not_timed, 1),
                                "test_accuracy": round(accuracy, 4)})
            print(json.dumps(self.epochs[-1]), file=sys.stderr, flush=True)
            self.not_timed += time.perf_counter() - scoring
            if accuracy >= target:
                self.model.stop_training = True

    score = ScoreOnTest()
    recipe = load_recipe("lstm_fashion_mnist").replace(epochs=max_epochs)
    with tempfile.TemporaryDirectory() as folder:
        train(recipe, out_dir=os.path.join(folder, "run"), verbose=0, extra_callbacks=[score])
    return {"epochs": score.epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.89)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--one", choices=["plain", "zoo"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run = plain_pytorch if args.one == "plain" else zoo_recipe
        print(json.dumps(run(args.target, args.max_epochs)))
        return

    results = {}
    for side in ("plain", "zoo"):
        env = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="3")
        out = subprocess.run([sys.executable, __file__, "--one", side, "--target", str(args.target),
                              "--max-epochs", str(args.max_epochs)], env=env, stdout=subprocess.PIPE, text=True)
        if out.returncode != 0:
            raise SystemExit(f"{side} failed")
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])["epochs"]

    print(f"\nmachine: {machine()}; target test accuracy {args.target}; zoo backend {args.backend}; one run each\n")
    print("| program | epochs to target | wall time to target | best test accuracy seen |")
    print("|---|---|---|---|")
    reached = {}
    for side, label in (("plain", "plain PyTorch tutorial model (2 x LSTM(128))"),
                        ("zoo", f"zoo lstm_fashion_mnist ({args.backend})")):
        epochs = results[side]
        hit = next((e for e in epochs if e["test_accuracy"] >= args.target), None)
        reached[side] = hit and hit["seconds"]
        best = max(e["test_accuracy"] for e in epochs)
        when = f"{hit['epoch']}" if hit else f"not in {len(epochs)}"
        wall = f"{hit['seconds']:.0f} s" if hit else f"> {epochs[-1]['seconds']:.0f} s"
        print(f"| {label} | {when} | {wall} | {best:.4f} |")
    if all(reached.values()):
        print(f"\nzoo / plain wall time: {reached['zoo'] / reached['plain']:.2f} (target: at most 0.50)")


if __name__ == "__main__":
    main()
