"""Class-conditioned image generation (1-vs-N): a class name in, a picture out, drawn row by
row, judged by the test images' negative log-likelihood in bits per pixel.

Pixels are quantised to ``levels`` gray levels ``k / (levels - 1)`` (8 by default) and each
pixel of a row is a softmax over them. Why a softmax over levels rather than Bernoulli on
binarised pixels: the drawn garments are judged by the shipped classifier, which was trained
on gray pictures; measured on the 10,000 test images, it keeps 0.9121 accuracy on 8 levels
(0.9141 on the originals) but 0.7565 on binarised ones. A softmax can also put its mass on
both "background" and "garment" where a row's edge is uncertain, and its likelihood is an
exact number of bits per pixel.

The model reads, at row t, the quantised row t-1 (a blank row first) and predicts row t;
drawing runs the family's ``encoder`` (class -> first states) once and its ``step`` once per
row, sampling every pixel of the row from its softmax. A model whose pixels see their left
neighbours also reads ``left`` (row t shifted right by one, teacher-forced) and draws through
a ``pixel_step`` artifact, one call per pixel, left to right.
"""

from __future__ import annotations

import dataclasses
import io
import math

import click
import numpy as np

from zoo import formats, generate, plots
from zoo.arguments import finite_number, whole_number
from zoo.data import images
from zoo.errors import ZooError
from zoo.tasks import register_task
from zoo.tasks.base import Examples, ImageData, ImageTask, QualityBudget, TaskData
from zoo.tasks.options import Command, seed_option, temperature_option

LEVELS = 8
MAX_COUNT = 10_000  # garments per class in one call
SAMPLE_GRID = "samples.png"  # the card's picture: one row per class
SAMPLE_COUNT, SAMPLE_SEED = 8, 0
AGREEMENT_PER_CLASS, AGREEMENT_SEED = 100, 0
# The card's class agreement: at the model's own distribution, and colder, where the drawn
# garments are smoother and more typical (below about 0.5 they collapse to a few shapes).
AGREEMENT_TEMPERATURES = (1.0, 0.6)


# The share of seeded drawings two engines must draw identically (see export_checks).
MIN_IDENTICAL = 0.8


def identical_share(a, b) -> float:
    """The share of pictures (the last two axes) identical pixel for pixel in `a` and `b`."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.mean(np.all(a == b, axis=(-2, -1))))


def quantise(pictures, levels: int) -> np.ndarray:
    """Gray pictures in [0, 1] as int32 levels 0..levels-1 (nearest level)."""
    return np.rint(np.asarray(pictures, dtype=np.float32) * (levels - 1)).astype(np.int32)


def gray(levels_, levels: int) -> np.ndarray:
    """Levels 0..levels-1 as float32 gray in [0, 1]."""
    return np.asarray(levels_, dtype=np.float32) / np.float32(levels - 1)


def rows_above(levels_, levels: int) -> np.ndarray:
    """The model's input for pictures of levels (n, height, width): at row t, row t-1 in gray
    (a blank row at t = 0)."""
    shifted = np.zeros(np.shape(levels_), dtype=np.float32)
    shifted[:, 1:] = gray(np.asarray(levels_)[:, :-1], levels)
    return shifted


def pixels_left(levels_, levels: int) -> np.ndarray:
    """The ``left`` input of a model whose pixels see their left neighbours, for pictures of
    levels (n, height, width): at pixel (t, i), pixel (t, i - 1) in gray (0 at i = 0)."""
    shifted = np.zeros(np.shape(levels_), dtype=np.float32)
    shifted[:, :, 1:] = gray(np.asarray(levels_)[:, :, :-1], levels)
    return shifted


def model_inputs(names, labels, pictures, levels: int) -> dict:
    """The full model's inputs by name for `pictures` of levels and their class `labels`:
    ``class_id`` and ``rows``, and ``left`` where `names` (the model's inputs) hold it."""
    inputs = {"class_id": np.asarray(labels, dtype=np.int32), "rows": rows_above(pictures, levels)}
    if "left" in names:
        inputs["left"] = pixels_left(pictures, levels)
    return inputs


@dataclasses.dataclass(frozen=True)
class GarmentData(ImageData):
    """An image dataset quantised to `levels` gray levels; `judge`, a shipped classifier of
    the same classes, scores the card's drawings."""

    levels: int = LEVELS
    judge: str | None = None


def _levels(model) -> int:
    return GarmentData.parse(model.data_config).levels


def _sees_left(recipe) -> bool:
    """Whether the recipe's model draws a row's pixels left to right (a pixel decoder), and
    so takes the ``left`` input."""
    from zoo.registry import get_spec

    return get_spec(recipe.model).resolve(recipe.preset, **recipe.model_options).get("pixels") == "left_to_right"


def _draw_row(step, states, features, levels: int, temperature: float, rng) -> np.ndarray:
    """One row's levels (batch, width) drawn left to right by `step` (over ``pixel_step``,
    from its zero `states`) from the row step's `features` (batch, width, F): each pixel
    reads its position's features and the gray drawn to its left."""
    left = np.zeros((len(features), 1, 1), dtype=np.float32)
    drawn = []
    for i in range(features.shape[1]):
        logits, states = step(np.concatenate([features[:, i : i + 1], left], axis=-1), states)
        drawn.append(generate.sample_token(logits, temperature=temperature, rng=rng))
        left = gray(drawn[-1], levels)[:, None, None]
    return np.stack(drawn, axis=1)


@register_task("image_generation")
class ImageGeneration(ImageTask):
    artifacts = ("model", "encoder", "step")  # and pixel_step, where the pixels see their left neighbours
    keras_metrics = ()
    headline = ("test_bits_per_pixel",)
    conventions = ("class_id (batch,) int32 indexes zoo.classes. encoder: class_id -> the step's first states; "
                   "step: token, the previous row (batch, 1, 28) as gray k / (levels - 1) with levels from zoo.data "
                   "(zeros before the first row), and the states -> logits (batch, 28, levels) over each pixel's "
                   "level in the next row, and next_<state> to feed back; 28 steps draw a picture. Where the export "
                   "has a pixel_step, step returns features (batch, 28, F) instead of logits, and each row is drawn "
                   "left to right: pixel_step takes token (batch, 1, F + 1), position i's F features followed by "
                   "the gray of the pixel drawn at i - 1 (0 at i = 0), and its own states (zeros at each row's "
                   "start) -> logits (batch, levels) over pixel i's level and next_<state>. The full model then "
                   "also takes left: each row shifted right by one, in gray.")
    int8_budget = QualityBudget(max_loss=0.01, higher_is_better=False)  # bits per pixel
    check_examples = 2000
    api = ("generate", "class_agreement")
    data_type = GarmentData
    commands = {"generate": Command(
        help="Draw --count pictures of each --class, one step per row.",
        params=(click.Option(["--class", "classes"], multiple=True, required=True,
                             help="The class to draw (a name, as the model card gives them); repeat it for a row "
                                  "of pictures per class."),
                click.Option(["--count"], type=int, default=1, show_default=True, help="Pictures per class (>= 1)."),
                click.Option(["--out"], type=click.Path(dir_okay=False),
                             help="Write the pictures as one PNG grid, a row per class [default: print them as "
                                  "text]."),
                click.Option(["--overwrite"], is_flag=True, help="Replace the file --out names if it exists."),
                temperature_option(), seed_option()))}
    use_and_limits = (
        "Draws 28x28 gray garments of the Fashion-MNIST kind (centred product photos, light on dark, 8 gray "
        "levels) from a class name, one row at a time: a teaching example of 1-vs-N generation and a source of "
        "pictures for tests and demonstrations, not of realistic product images. Where each pixel of a row is "
        "drawn independently given the rows above (no pixel_step artifact), the drawings are grainy; with a "
        "pixel decoder each pixel also sees those to its left, which smooths the rows but not every outline. A "
        "lower temperature makes drawings smoother and more alike. It knows only its ten classes and draws what "
        "its training pictures showed."
    )

    DATA_TEXT = {
        "fashion_mnist": ("Fashion-MNIST (Zalando), read from the IDX files of Debian's `dataset-fashion-mnist`: "
                          "60,000 training images of which a seeded 5,000 are held out for validation (early "
                          "stopping, best epoch), and the 10,000 test images, used only for the figures below. "
                          "Pixels are quantised to 8 gray levels; the likelihood is of those levels."),
    }

    # ------------------------------------------------------------------ training
    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        from zoo.tasks.datasets import ShuffledArrays

        d = self.data(recipe.data)
        splits = self.splits(recipe.data, seed=seed, data_dir=data_dir, limit=limit)
        levels = d.levels

        # The model's inputs in its order: (class, rows above[, pixels to the left]).
        names = ("class_id", "rows", "left") if _sees_left(recipe) else ("class_id", "rows")

        def pairs(x, labels):  # (inputs, levels)
            quantised = quantise(x, levels)
            inputs = model_inputs(names, labels, quantised, levels)
            return tuple(inputs[name] for name in names), quantised

        train_inputs, train_levels = pairs(splits.x_train, splits.y_train)
        classes = images.CLASS_NAMES[d.dataset]
        return TaskData(
            train=ShuffledArrays(train_inputs, train_levels, batch_size=batch_size, seed=seed),
            validation=pairs(splits.x_val, splits.y_val),
            test=pairs(splits.x_test, splits.y_test),
            examples=Examples("test", quantise(splits.x_test, levels), splits.y_test),
            classes=classes,
            model_options={"num_classes": len(classes), "width": images.COLS, "levels": levels},
        )

    # ------------------------------------------------------------------ the metric
    def examples(self, data_config, *, seed, data_dir=None, vocab=None, limit=None) -> Examples:
        """The test pictures as levels (inputs) and their classes (targets)."""
        splits = self.splits(data_config, seed=seed, data_dir=data_dir)
        levels = quantise(splits.x_test, self.data(data_config).levels)
        return Examples("test", levels, splits.y_test).head(limit)

    def measure(self, model, examples: Examples, batch_size: int = 256) -> dict:
        """Negative log-likelihood of the test pictures' levels in bits per pixel, each row
        given the rows above and the class (the full model, teacher-forced)."""
        levels, total, names = _levels(model), 0.0, model.input_units("model")
        for i in range(0, len(examples), batch_size):
            pictures, labels = examples.inputs[i : i + batch_size], examples.targets[i : i + batch_size]
            logits = model.run("model", model_inputs(names, labels, pictures, levels))[generate.LOGITS]
            log_probs = generate.log_softmax(logits)
            total -= float(np.take_along_axis(log_probs, np.asarray(pictures)[..., None], -1).sum())
        pixels = int(np.size(examples.inputs))
        return {"test_bits_per_pixel": total / pixels / math.log(2), "test_examples": len(examples)}

    # ------------------------------------------------------------------ inference
    def check_manifest(self, manifest: dict) -> None:
        super().check_manifest(manifest)
        classes = manifest.get("classes")
        if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
            raise ValueError("an image_generation export needs its class names (classes)")

    def class_ids(self, model, classes) -> list[int]:
        """Class names (or ids) as ids; an unknown name is a one-line error listing the names."""
        names = model.classes or []
        items = [classes] if isinstance(classes, (str, int, np.integer)) else classes
        if not isinstance(items, (list, tuple)) or not items:
            raise ZooError(f"class: expected a class name or a non-empty list of them ({', '.join(names)})")
        ids = []
        for item in items:
            if isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < len(names):
                ids.append(int(item))
            elif isinstance(item, str) and item in names:
                ids.append(names.index(item))
            else:
                folded = [n for n in names if isinstance(item, str) and n.casefold() == item.casefold()]
                if not folded:
                    raise ZooError(f"class {item!r}: expected one of {', '.join(names)}")
                ids.append(names.index(folded[0]))
        return ids

    def generate(self, model, classes, count: int = 1, *, temperature: float = 1.0, seed=None) -> np.ndarray:
        """`count` pictures drawn for a class (a name or id): float32 (count, 28, 28) gray in
        [0, 1]; for a list of classes, (classes, count, 28, 28). All in one batch, one step
        call per row; temperature 0 takes each pixel's most likely level."""
        ids = self.class_ids(model, classes)
        count = whole_number("count", count, minimum=1, maximum=MAX_COUNT)
        temperature = finite_number("temperature", temperature, minimum=0)
        seed = whole_number("seed", seed, minimum=0, maximum=2**32 - 1, optional=True)
        pictures = self.draw(model, np.repeat(ids, count), temperature=temperature, seed=seed)
        pictures = pictures.reshape(len(ids), count, *pictures.shape[1:])
        return pictures[0] if isinstance(classes, (str, int, np.integer)) else pictures

    def draw(self, model, class_ids, *, temperature: float = 1.0, seed=None) -> np.ndarray:
        """One picture (float32 gray, height x width) per class id, drawn row by row: the
        ``encoder`` gives the first states, then each ``step`` reads the row above and every
        pixel of its row is sampled (``rng`` seeded by `seed`, one number per pixel): all at
        once, or left to right through ``pixel_step`` where the model has one."""
        levels, rng = _levels(model), np.random.default_rng(seed)
        states = model.run("encoder", {"class_id": np.asarray(class_ids, dtype=np.int32)})
        by_pixel = "pixel_step" in model.artifact_names
        step = model.step_function("step", generate.FEATURES if by_pixel else generate.LOGITS)
        if by_pixel:  # zeros start every row's pixel states
            pixel_step = model.step_function("pixel_step")
            pixel_states = model.zero_states("pixel_step", len(class_ids))
        width = model.input_units("step")[generate.TOKEN]
        row, rows = np.zeros((len(class_ids), 1, width), dtype=np.float32), []
        for _ in range(images.ROWS):
            out, states = step(row, states)
            if by_pixel:
                features = np.asarray(out, dtype=np.float32)
                drawn = _draw_row(pixel_step, pixel_states, features, levels, temperature, rng)
            else:
                drawn = generate.sample_token(np.reshape(out, (-1, levels)), temperature=temperature, rng=rng)
            rows.append(drawn.reshape(len(class_ids), width))
            row = gray(rows[-1], levels)[:, None, :]
        return gray(np.stack(rows, axis=1), levels)

    def class_agreement(self, model, judge, *, per_class: int = AGREEMENT_PER_CLASS, seed: int = AGREEMENT_SEED,
                        temperature: float = 1.0) -> dict:
        """The share of drawn pictures that classifier `judge` (a loaded classification model
        with the same class names) labels as the class asked for: `per_class` pictures of each
        class drawn with `seed`, overall and by class name."""
        if judge.classes != model.classes:
            raise ZooError(f"{judge.origin}: its classes ({', '.join(judge.classes or [])}) are not the "
                           f"generator's ({', '.join(model.classes or [])})")
        pictures = self.generate(model, list(range(len(model.classes))), per_class, temperature=temperature,
                                 seed=seed)
        labels, _ = judge.classify(pictures.reshape(-1, *pictures.shape[2:]))
        agree = np.array(labels).reshape(len(model.classes), per_class) == np.array(model.classes)[:, None]
        return {"agreement": float(agree.mean()), "per_class": per_class, "seed": seed, "temperature": temperature,
                "by_class": {name: float(row.mean()) for name, row in zip(model.classes, agree)}}

    def generate_command(self, model, *, classes, count=1, out=None, overwrite=False, temperature=1.0,
                         seed=None) -> list[str]:
        """A PNG grid (one row per class) at `out` (an existing file only with `overwrite`), or
        the pictures as text."""
        if out is not None:
            plots.png_path(out, overwrite=bool(overwrite))
        elif overwrite:
            raise ZooError("--overwrite: it replaces the file --out names; give --out")
        pictures = self.generate(model, list(classes), count, temperature=temperature,
                                 seed=seed)
        if out is None:
            return [line for name, row in zip(classes, pictures) for i, picture in enumerate(row)
                    for line in (f"{name} {i + 1}:", *_text_picture(picture))]
        plots.write_png(out, plots.grid(pictures, labels=list(classes)), overwrite=bool(overwrite))
        return [f"{out}: {pictures.shape[0]} x {pictures.shape[1]} pictures ({', '.join(classes)})"]

    def export_checks(self, keras_model, exported, real_inputs) -> tuple[dict, list]:
        """Every engine draws, for the same seed, the pictures Keras draws: two of every class,
        all but at most a fifth of them identical pixel for pixel (a uniform number that falls
        within float rounding of a level's boundary can draw another level on another engine,
        and that one picture goes its own way from there)."""
        ids = list(range(len(keras_model.classes))) * 2
        expected = self.draw(keras_model, ids, seed=0)
        report, failures = {}, []
        for fmt, model in exported.items():
            same = identical_share(self.draw(model, ids, seed=0), expected)
            report[fmt] = {"identical_pictures": same}
            if same < MIN_IDENTICAL:
                failures.append(f"{fmt}: drew other pictures than Keras for seed 0 (only {same:.2f} identical)")
        return {"drawing": report}, failures

    # ------------------------------------------------------------------ model card
    def samples(self, model, data_config) -> list[dict]:
        return [{"grid": SAMPLE_GRID, "classes": model.classes, "count": SAMPLE_COUNT, "seed": SAMPLE_SEED,
                 "temperature": 1.0}]

    def sample_files(self, model, data_config) -> dict:
        pictures = self.generate(model, model.classes, SAMPLE_COUNT, seed=SAMPLE_SEED)
        buffer = io.BytesIO()
        plots.grid(pictures, labels=model.classes).save(buffer, format="PNG")
        return {SAMPLE_GRID: buffer.getvalue()}

    def card_figures(self, model, data_config, load) -> dict:
        """The share of drawn pictures the data config's judge (a shipped classifier) labels as
        asked, at each of AGREEMENT_TEMPERATURES."""
        judge_name = self.data(data_config).judge
        if judge_name is None:
            return {}
        judge = load(judge_name, formats.DEFAULT_ENGINE)
        return {f"class_agreement_t{t:g}": {"judge": judge_name,
                                             **self.class_agreement(model, judge, temperature=t)}
                for t in AGREEMENT_TEMPERATURES}

    def sample_lines(self, samples) -> list[str]:
        lines = []
        for s in samples:
            lines += [f"{s['count']} pictures of each class (one row per class, in the order "
                      f"{', '.join(s['classes'])}), seed {s['seed']}, temperature {s['temperature']}:", "",
                      f"![drawn pictures]({s['grid']})", ""]
        return lines

    def usage(self, name, samples) -> tuple[str, str]:
        return ('m.generate("Sneaker", count=8, seed=0)   # (8, 28, 28) gray in [0, 1]',
                f"zoo generate {name} --class Sneaker --count 8 --seed 0 --out sneakers.png")


_RAMP = " .:-=+*#"  # one character per gray level, darkest first


def _text_picture(picture) -> list[str]:
    """A picture as lines of characters, two per pixel (terminal cells are tall)."""
    scale = len(_RAMP) - 1
    return ["".join(_RAMP[int(round(v * scale))] * 2 for v in row) for row in picture]
