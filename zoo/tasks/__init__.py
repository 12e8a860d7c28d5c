"""The three tasks a recipe can train, one module each: data pipeline, metrics, task
callbacks and evaluation. Metrics are named by the split they were measured on
(``test_...``; ``val_...`` in the history); a task without held-out examples reports
``train_...``."""

from zoo.tasks.base import Task, TaskData
from zoo.tasks.classification import Classification
from zoo.tasks.language_model import LanguageModel
from zoo.tasks.seq2seq import Seq2Seq

TASKS: dict[str, Task] = {"classification": Classification(), "language_model": LanguageModel(), "seq2seq": Seq2Seq()}

__all__ = ["TASKS", "Task", "TaskData"]
