"""How often the shipped classifier names the class a generator was asked to draw, for each
class-conditioned generator (1-vs-N) and temperature (issue 22), and the classification
accuracy score of conditional generators (issue 32): a classifier trained on drawn pictures
only, tested on the real test split, against the same recipe trained on as many real ones.

    python benchmarks/class_agreement.py
    python benchmarks/class_agreement.py runs/my_generator --temperatures 1.0,0.7 --per-class 100
    KERAS_BACKEND=torch python benchmarks/class_agreement.py lstm_fashion_mnist_generator --train-on-generated

Each generator draws `--per-class` pictures of every class with seed `--seed` through
onnxruntime (as the cards do), and the judge (default: the shipped ``lstm_fashion_mnist``)
labels them. Prints one row per (generator, temperature): how the class enters, the test
negative log-likelihood from its card or run, the agreement overall and per class.

``--train-on-generated`` (minutes: two trainings per generator) draws as many pictures of
each class as the real training split holds (6,000), writes them as IDX files beside the real
test files, and trains `--classifier` (default ``lstm_fashion_mnist_fast``, a 10-epoch
recipe) on them through ``zoo.train`` on the current backend, and once on the real training
pictures at the generators' 8 gray levels; both are tested on the real test split.
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


def _write_split(folder: pathlib.Path, train_x, train_y, test_x, test_y) -> pathlib.Path:
    """Gray pictures in [0, 1] and their labels as the four Fashion-MNIST IDX files."""
    from zoo.data.images import IDX_FILES, write_idx

    folder.mkdir(parents=True, exist_ok=True)
    as_bytes = lambda x: np.rint(np.asarray(x) * 255).astype(np.uint8)  # noqa: E731
    for key, array in (("train_images", as_bytes(train_x)), ("train_labels", train_y),
                       ("test_images", as_bytes(test_x)), ("test_labels", test_y)):
        write_idx(folder / IDX_FILES[key], array)
    return folder


def train_on_generated(generators, classifier: str, seed: int, temperature: float, work: pathlib.Path) -> list:
    """(pictures the classifier trained on, its test accuracy on the real test split, seconds):
    once on the real training split at 8 gray levels, once on each generator's drawings of as
    many pictures of each class."""
    import time

    from zoo.data.images import load_image_rows
    from zoo.tasks.image_generation import LEVELS, gray, quantise

    real = load_image_rows("fashion_mnist", validation_size=0)
    counts = np.bincount(real.y_train, minlength=10)
    if len(set(counts)) != 1:
        raise SystemExit("the real training split's classes are not balanced: draw per class counts by hand")
    sources = [("real training pictures, 8 gray levels", gray(quantise(real.x_train, LEVELS), LEVELS), real.y_train)]
    for ref in generators:
        generator = zoo.load(ref, engine="onnx")
        pictures = generator.generate(list(range(len(counts))), int(counts[0]), temperature=temperature, seed=seed)
        labels = np.repeat(np.arange(len(counts)), counts[0]).astype(np.uint8)
        sources.append((f"`{ref}` at temperature {temperature:g}", pictures.reshape(-1, *pictures.shape[2:]), labels))
    rows = []
    for index, (what, x, y) in enumerate(sources):
        data = _write_split(work / f"data_{index}", x, y, real.x_test, real.y_test)
        start = time.perf_counter()
        metrics = zoo.train(classifier, out_dir=work / f"run_{index}", data_dir=str(data), seed=seed, overwrite=True,
                            verbose=0)
        rows.append((what, len(y), metrics["test_accuracy"], time.perf_counter() - start))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generators", nargs="*", default=list(GENERATORS),
                        help="shipped generator names or run folders [default: the shipped ones]")
    parser.add_argument("--judge", default="lstm_fashion_mnist", help="the classifier that labels the pictures")
    parser.add_argument("--per-class", type=int, default=AGREEMENT_PER_CLASS)
    parser.add_argument("--seed", type=int, default=AGREEMENT_SEED)
    parser.add_argument("--temperatures", default="1.0,0.8,0.6", help="comma-separated sampling temperatures")
    parser.add_argument("--train-on-generated", action="store_true",
                        help="also train --classifier on drawn pictures only and test it on the real test split "
                             "(minutes)")
    parser.add_argument("--classifier", default="lstm_fashion_mnist_fast",
                        help="the classifier recipe --train-on-generated trains")
    parser.add_argument("--work", default=None, help="folder for --train-on-generated's data and runs "
                                                     "[default: a temporary folder]")
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
    if not args.train_on_generated:
        return
    import tempfile

    import keras

    with tempfile.TemporaryDirectory() as temporary:
        work = pathlib.Path(args.work or temporary)
        rows = train_on_generated(args.generators, args.classifier, args.seed, 1.0, work)
    print(f"\nclassification accuracy score: `{args.classifier}` trained (seed {args.seed}, "
          f"{keras.backend.backend()}) on these pictures only, tested on the 10,000 real test pictures\n")
    print("| trained on | pictures | test accuracy | of real | seconds |")
    print("|---|---|---|---|---|")
    for what, count, accuracy, seconds in rows:
        print(f"| {what} | {count:,} | **{accuracy:.4f}** | {accuracy / rows[0][2]:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
