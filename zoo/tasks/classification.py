"""Classification (N-vs-1): image rows -> class, judged by accuracy."""

from __future__ import annotations

import dataclasses

import click
import numpy as np

from zoo import generate
from zoo.data import images, pictures
from zoo.data.augment import augmentation
from zoo.tasks import register_task
from zoo.tasks.base import Examples, ImageData, ImageTask, QualityBudget, TaskData
from zoo.tasks.options import Command, json_option


@dataclasses.dataclass(frozen=True)
class ClassificationData(ImageData):
    """An image dataset, its training pictures shifted by up to `augment_shift` pixels and
    mirrored left to right when `augment_flip`, anew each epoch."""

    augment_shift: int = 0
    augment_flip: bool = False


@register_task("classification")
class Classification(ImageTask):
    headline = ("test_accuracy",)
    conventions = ("model: rows (batch, 28, 28) float32, a picture read row by row, gray in [0, 1], light garment "
                   "on a dark ground as in Fashion-MNIST; logits (batch, classes) index zoo.classes.")
    int8_budget = QualityBudget(max_loss=0.005, higher_is_better=True)  # half an accuracy point
    hub_pipeline = "image-classification"
    check_examples = 2000
    api = ("classify",)
    data_type = ClassificationData
    commands = {"predict": Command(
        help="Classify pictures: each INPUT is a .npy array, an IDX file, or a PNG / JPEG picture of any size; "
             "prints its most likely class and that class's probability.",
        params=(click.Argument(["inputs"], metavar="INPUT...", nargs=-1, required=True), json_option(),
                click.Option(["--invert"], type=click.Choice(["auto", "yes", "no"]), default="auto",
                             show_default=True, help="Make dark-on-light pictures light-on-dark, as the dataset "
                                                     "is (auto: when the border is light).")))}
    use_and_limits = (
        "Classifies 28x28 gray images of the dataset's kind (Fashion-MNIST: centred product photos, light object "
        "on a dark background) into its classes. `zoo predict` and `classify` take `.npy` arrays and IDX files "
        "as they are, and PNG or JPEG pictures of any size made like the dataset's images: padded to a square "
        "with their border colour, resized to 28x28, colour to gray (transparent pixels as white paper), 16-bit "
        "gray scaled by its full range, and inverted when their border is mostly light (`--invert auto`; "
        "`yes` or `no` to decide). A photo unlike the dataset (cluttered background, several objects, a person "
        "wearing the garment) is outside what it was trained on: its answer and probability mean little. Not "
        "for decisions about people."
    )

    DATA_TEXT = {
        "fashion_mnist": ("Fashion-MNIST (Zalando), read from the IDX files of Debian's `dataset-fashion-mnist`: "
                          "60,000 training images of which a seeded 5,000 are held out for validation (early stopping, "
                          "learning-rate schedule, best epoch), and the 10,000 test images, used only for the figures "
                          "below."),
    }

    # ------------------------------------------------------------------ training
    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        from zoo.tasks.datasets import ShuffledArrays

        d = self.data(recipe.data)
        splits = self.splits(recipe.data, seed=seed, data_dir=data_dir, limit=limit)
        augment = augmentation(shift=d.augment_shift, flip=d.augment_flip)
        return TaskData(
            train=ShuffledArrays(splits.x_train, splits.y_train, batch_size=batch_size, seed=seed, augment=augment),
            validation=(splits.x_val, splits.y_val),
            test=(splits.x_test, splits.y_test),
            examples=Examples("test", splits.x_test, splits.y_test),
            classes=images.CLASS_NAMES[d.dataset],
        )

    # ------------------------------------------------------------------ the metric
    def examples(self, data_config, *, seed, data_dir=None, vocab=None, limit=None) -> Examples:
        splits = self.splits(data_config, seed=seed, data_dir=data_dir)
        return Examples("test", splits.x_test, splits.y_test).head(limit)

    def measure(self, model, examples: Examples) -> dict:
        accuracy = float(np.mean(model.logits(examples.inputs).argmax(-1) == examples.targets))
        return {"test_accuracy": accuracy, "test_examples": len(examples)}

    # ------------------------------------------------------------------ inference
    def check_manifest(self, manifest: dict) -> None:
        super().check_manifest(manifest)
        classes = manifest.get("classes")
        if classes is not None:
            if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
                raise ValueError("classes must be a list of class names")
            outputs = manifest["artifacts"]["model"]["outputs"][0]["shape"][-1]
            if outputs is not None and outputs != len(classes):
                raise ValueError(f"{len(classes)} class names, the model predicts {outputs} classes")

    def classify(self, model, images_) -> tuple[list[str], np.ndarray]:
        """The most likely class name of each image (batch, 28, 28) in [0, 1], and the softmax
        probabilities of every class (columns in the order of `classes`)."""
        probabilities = generate.softmax(model.logits(pictures.check_images(images_)))
        names = model.classes or [str(i) for i in range(probabilities.shape[-1])]
        return [names[i] for i in probabilities.argmax(-1)], probabilities

    def predict_command(self, model, *, inputs, as_json=False, invert="auto") -> list[str]:
        names, probabilities = self.classify(model, pictures.load_images(inputs, invert=invert))
        if as_json:
            import json

            return [json.dumps({"classes": model.classes, "predictions": [
                {"class": name, "class_id": int(row.argmax()), "probability": round(float(row.max()), 6),
                 "probabilities": [round(float(p), 6) for p in row]} for name, row in zip(names, probabilities)]},
                indent=2, ensure_ascii=False)]
        return [f"{name} {float(row.max()):.2f}" for name, row in zip(names, probabilities)]

    # ------------------------------------------------------------------ model card
    def samples(self, model, data_config) -> list[dict]:
        test = self.examples(data_config, seed=model.seed, limit=8)
        names, probabilities = self.classify(model, test.inputs)
        return [{"input": f"test image {i}", "label": model.classes[int(test.targets[i])], "predicted": name,
                 "probability": round(float(row.max()), 4)} for i, (name, row) in enumerate(zip(names, probabilities))]

    def sample_lines(self, samples) -> list[str]:
        return [f"- {s['input']} ({s['label']}): {s['predicted']} {s['probability']:.2f}" for s in samples]

    def usage(self, name, samples) -> tuple[str, str]:
        return "m.classify(images)   # (class names, probabilities)", f"zoo predict {name} shirt.png"
