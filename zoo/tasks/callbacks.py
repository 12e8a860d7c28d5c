"""Keras callbacks of the tasks: what a task adds to the logs and prints after each epoch.
Imported by the tasks only when they train (this module imports keras)."""

from __future__ import annotations

import json
import math

import keras


class PerplexityLogs(keras.callbacks.Callback):
    """Adds perplexity and bits per character, derived from the cross-entropy in nats."""

    def on_epoch_end(self, epoch, logs=None):
        for prefix in ("", "val_"):
            if logs is not None and f"{prefix}loss" in logs:
                loss = float(logs[f"{prefix}loss"])
                logs[f"{prefix}perplexity"] = math.exp(min(loss, 50.0))
                logs[f"{prefix}bits_per_char"] = loss / math.log(2)


class SampleText(keras.callbacks.Callback):
    """Prints a line sampled from a prefix after each epoch, and appends it to a JSON-lines
    file, through the task's own ``generate`` on `model` (an InferenceModel over the layers
    being trained)."""

    def __init__(self, task, model, prompt, *, length=100, path=None, seed=0):
        super().__init__()
        self.task, self.lm, self.prompt, self.length, self.path, self.seed = task, model, prompt, length, path, seed

    def on_epoch_end(self, epoch, logs=None):
        line = self.task.generate(self.lm, self.prompt, self.length, temperature=0.8, seed=self.seed)
        print(f"\nsample after epoch {epoch + 1}: {self.prompt + line!r}")
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"epoch": epoch + 1, "text": self.prompt + line}, ensure_ascii=False) + "\n")


class TaskMetric(keras.callbacks.Callback):
    """Adds the task's own metric on held-out examples to the logs after each epoch (as
    ``val_<metric>``; as ``<metric>``, Keras's name for a training-set figure, on training
    examples of a task without held-out ones) and prints it with a few predictions."""

    def __init__(self, task, model, examples, *, metric: str, held_out=True, show=None):
        super().__init__()
        self.task, self.inference, self.examples, self.metric, self.show = task, model, examples, metric, show
        self.key, self.split = (f"val_{metric}", "validation") if held_out else (metric, "training")

    def on_epoch_end(self, epoch, logs=None):
        measured = self.task.measure(self.inference, self.examples)
        rate = measured[f"{self.examples.split}_{self.metric}"]
        if logs is not None:
            logs[self.key] = rate
        shown = f"; {self.show(self.inference)}" if self.show else ""
        print(f"\n{self.metric.replace('_', ' ')} {rate:.4f} on {len(self.examples)} {self.split} examples{shown}")
