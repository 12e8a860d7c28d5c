"""How often the shipped classifier names the class a generator was asked to draw, for each
class-conditioned generator (1-vs-N) and temperature: the figure of issue 22.

    python benchmarks/class_agreement.py
    python benchmarks/class_agreement.py runs/my_generator --temperatures 1.0,0.7 --per-class 100

Each generator draws `--per-class` pictures of every class with seed `--seed` through
onnxruntime (as the cards do), and the judge (default: the shipped ``lstm_fashion_mnist``)
labels them. Prints one row per (generator, temperature): how the class enters, the test
negative log-likelihood from its card or run, the agreement overall and per class.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

import zoo
from zoo.pretrained import resolve
from zoo.tasks.image_generation import AGREEMENT_PER_CLASS, AGREEMENT_SEED

GENERATORS = ("lstm_fashion_mnist_generator", "lstm_fashion_mnist_generator_every_step")


def _figures(folder: pathlib.Path) -> tuple[str, float | None]:
    """How the class enters the model and its test bits per pixel, from a shipped card or a run."""
    for name in ("card.json", "config.json"):
        if (folder / name).is_file():
            config = json.loads((folder / name).read_text("utf-8"))
            options = config["model_options"]
            metrics = config.get("metrics") or json.loads((folder / "metrics.json").read_text("utf-8"))
            return options.get("condition", "?"), metrics.get("test_bits_per_pixel")
    return "?", None


def _real_pictures(judge, per_class: int) -> dict:
    """The judge on real pictures, as the generators' are made (8 gray levels): the first
    `per_class` test pictures of each class. What a generator of perfectly real garments scores."""
    from zoo.data.images import load_image_rows
    from zoo.tasks.image_generation import LEVELS, gray, quantise

    test = load_image_rows("fashion_mnist")
    picked = np.concatenate([np.flatnonzero(test.y_test == k)[:per_class] for k in range(len(judge.classes))])
    labels, _ = judge.classify(gray(quantise(test.x_test[picked], LEVELS), LEVELS))
    agree = (np.array(labels) == np.array(judge.classes)[test.y_test[picked]]).reshape(len(judge.classes), -1)
    return {"agreement": float(agree.mean()), "by_class": {c: float(a.mean()) for c, a in zip(judge.classes, agree)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generators", nargs="*", default=list(GENERATORS),
                        help="shipped generator names or run folders [default: the shipped ones]")
    parser.add_argument("--judge", default="lstm_fashion_mnist", help="the classifier that labels the pictures")
    parser.add_argument("--per-class", type=int, default=AGREEMENT_PER_CLASS)
    parser.add_argument("--seed", type=int, default=AGREEMENT_SEED)
    parser.add_argument("--temperatures", default="1.0,0.8,0.6", help="comma-separated sampling temperatures")
    args = parser.parse_args()

    judge = zoo.load(args.judge, engine="onnx")
    temperatures = [float(t) for t in args.temperatures.split(",")]
    classes = None
    rows = []
    for ref in args.generators:
        folder = resolve(ref)
        generator = zoo.load(ref, engine="onnx")
        classes = generator.classes
        condition, bits = _figures(folder)
        for temperature in temperatures:
            result = generator.class_agreement(judge, per_class=args.per_class, seed=args.seed,
                                               temperature=temperature)
            rows.append((ref, condition, bits, temperature, result))
    real = _real_pictures(judge, args.per_class)
    print(f"judge {args.judge}; {args.per_class} pictures per class, seed {args.seed}, drawn through onnxruntime\n")
    print("| generator | class enters as | test bits/pixel | temperature | agreement | "
          + " | ".join(classes) + " |")
    print("|---|---|---|---|---|" + "---|" * len(classes))
    print(f"| the first {args.per_class} test pictures of each class, 8 levels | - | - | - | "
          f"**{real['agreement']:.3f}** | " + " | ".join(f"{real['by_class'][c]:.2f}" for c in classes) + " |")
    for ref, condition, bits, temperature, result in rows:
        shown = "-" if bits is None else f"{bits:.4f}"
        print(f"| `{ref}` | {condition} | {shown} | {temperature:g} | **{result['agreement']:.3f}** | "
              + " | ".join(f"{result['by_class'][c]:.2f}" for c in classes) + " |")


if __name__ == "__main__":
    main()
