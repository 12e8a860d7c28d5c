"""Classification: image rows -> class, judged by accuracy."""

from __future__ import annotations

from zoo.data import images
from zoo.tasks.base import Task, TaskData
from zoo.tasks.datasets import ShuffledArrays


class Classification(Task):
    metrics = ("accuracy",)

    def prepare(self, recipe, *, seed, limit, data_dir, batch_size) -> TaskData:
        d = recipe.data
        splits = images.load_image_rows(
            d["dataset"], source=d.get("source", "idx"), data_dir=data_dir,
            validation_size=d.get("validation_size", 5000), seed=seed, limit=limit,
        )
        shift = d.get("augment_shift", 0)
        augment = (lambda x, rng: images.random_shifts(x, shift, rng)) if shift else None
        return TaskData(
            train=ShuffledArrays(splits.x_train, splits.y_train, batch_size=batch_size, seed=seed, augment=augment),
            validation=(splits.x_val, splits.y_val),
            test=(splits.x_test, splits.y_test),
            classes=images.CLASS_NAMES[d["dataset"]],
        )

    def evaluate(self, model, data, recipe, *, batch_size) -> dict:
        loss, accuracy = model.evaluate(*data.test, batch_size=batch_size, verbose=0)
        return {"test_loss": float(loss), "test_accuracy": float(accuracy), "test_examples": len(data.test[1])}
