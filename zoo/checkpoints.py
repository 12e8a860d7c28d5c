"""Epoch backups of a run in progress: all that a resumed run needs to go on exactly as the
uninterrupted run would have.

Keras's BackupAndRestore keeps the weights, the optimizer and the epoch, written in place. A
run here also needs EarlyStopping's and ReduceLROnPlateau's counters and best values, the best
epoch's weights, every random generator training draws from (the layers' seed generators, and
the global ones: Python's, NumPy's, and torch's, from which Keras's unseeded Dropout draws its
masks on torch), the history, and backups that a kill can never leave half-written. So each
epoch's backup is a folder ``epoch-NNNN/`` built under a temporary name and renamed into
place only when complete (the data order needs nothing stored: the zoo's datasets draw it
from the seed and the epoch number). On resume the newest backup that loads is used; a damaged
one is reported and skipped.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import pathlib
import random
import shutil
import sys

import keras
import numpy as np

from zoo import storage
from zoo.errors import first_line

STATE = "state.json"
WEIGHTS = "state.weights.h5"  # the training model: layers and optimizer (learning rate included)
BEST = "best.weights.h5"  # the model's weights at the best epoch so far
KEEP = 2  # newest backups kept, besides the ones holding their best weights
# Callback attributes that Keras resets in on_train_begin and a resumed run must get back.
CALLBACK_STATE = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch", "stopped_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


@dataclasses.dataclass
class Checkpoint:
    """A restored backup: how many epochs it holds and its saved state."""

    folder: pathlib.Path
    state: dict

    @property
    def epochs_done(self) -> int:
        return self.state["epochs_done"]

    @property
    def finished(self) -> bool:
        """Training is over: early stopping fired (or NaN), or every epoch ran."""
        return self.state["stop_training"] or self.epochs_done >= self.state["epochs"]

    @property
    def best_weights(self) -> pathlib.Path | None:
        best = self.state["best"]
        return None if best is None else self.folder.parent / best["folder"] / BEST


def _seed_variables(model) -> list:
    """The layers' seed generators (dropout), in model order: variables that ``save_weights``
    leaves out (their paths are not unique, so they are matched by position)."""
    return [v for v in model.variables if "seed_generator" in v.path]


def _rng_states() -> dict:
    """The global random generators' states, as JSON.

    Python's and NumPy's on every backend. On torch also torch's (the CPU's, and each CUDA
    device's): Keras's Dropout without a seed draws its masks there, through
    ``torch.nn.functional.dropout``, and never moves its layer's seed generator; each
    DataLoader iterator Keras opens takes a seed from it too. TensorFlow and JAX draw only
    from the seed generators (stateless kernels), which :func:`_seed_variables` covers.
    """
    version, internal, gauss = random.getstate()
    name, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
    states = {"python": [version, list(internal), gauss],
              "numpy": [name, key.tolist(), int(pos), int(has_gauss), float(cached)]}
    if keras.backend.backend() == "torch":
        import torch

        pack = lambda tensor: base64.b64encode(tensor.numpy().tobytes()).decode("ascii")
        states["torch"] = pack(torch.get_rng_state())
        if torch.cuda.is_available():
            states["torch_cuda"] = [pack(t) for t in torch.cuda.get_rng_state_all()]
    return states


def _decode_rng_states(states: dict) -> dict:
    """:func:`_rng_states`'s JSON as the values the generators' ``set_state`` functions take."""
    version, internal, gauss = states["python"]
    name, key, pos, has_gauss, cached = states["numpy"]
    decoded = {"python": (version, tuple(internal), gauss),
               "numpy": (name, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached)}
    if "torch" in states:
        import torch

        unpack = lambda text: torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype=np.uint8).copy())
        decoded["torch"] = unpack(states["torch"])
        decoded["torch_cuda"] = [unpack(text) for text in states.get("torch_cuda", [])]
    return decoded


def _check_rng_states(states: dict) -> None:
    """Raise if `states` do not load: loaded into fresh generators, the global ones untouched."""
    decoded = _decode_rng_states(states)
    random.Random().setstate(decoded["python"])
    np.random.RandomState().set_state(decoded["numpy"])
    if "torch" in decoded:
        import torch

        torch.Generator().set_state(decoded["torch"])


def _set_rng_states(states: dict) -> None:
    decoded = _decode_rng_states(states)
    random.setstate(decoded["python"])
    np.random.set_state(decoded["numpy"])
    if "torch" in decoded:
        import torch

        torch.set_rng_state(decoded["torch"])
        if torch.cuda.is_available():  # the devices both runs have
            for device, state in enumerate(decoded["torch_cuda"][:torch.cuda.device_count()]):
                torch.cuda.set_rng_state(state, device)


def _json_value(value):
    """`value` as JSON: numpy scalars and backend tensors as Python numbers, nan and inf as None."""
    if value is None:
        return None
    if not isinstance(value, (int, float)):
        value = np.asarray(keras.ops.convert_to_numpy(value)).item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunBackup(keras.callbacks.Callback):
    """Writes an epoch backup after each epoch; restores callback state when resuming.

    Put it last in the callback list: its ``on_train_begin`` must run after the callbacks
    whose counters Keras resets there, and its ``on_epoch_end`` after every callback that
    adds to the logs or changes the learning rate.
    """

    def __init__(self, folder, *, model, epochs, monitor, mode, callbacks, checkpoint=None, epoch_files=()):
        super().__init__()
        self.folder = pathlib.Path(folder)
        self.base_model, self.epochs, self.monitor, self.mode = model, epochs, monitor, mode
        self.stateful = [c for c in callbacks if type(c) in CALLBACK_STATE]
        self.checkpoint, self.epoch_files = checkpoint, list(map(pathlib.Path, epoch_files))
        state = checkpoint.state if checkpoint else {}
        self.rows = list(state.get("history", []))
        self.best = state.get("best")

    def on_train_begin(self, logs=None):
        if self.checkpoint is None:
            for path in self.epoch_files:
                path.unlink(missing_ok=True)
            return
        saved = self.checkpoint.state["callbacks"]
        for callback in self.stateful:
            for attribute, value in saved.get(type(callback).__name__, {}).items():
                setattr(callback, attribute, value)
        for path in self.epoch_files:  # lines the killed run wrote after its last backup
            _trim_jsonl(path, self.checkpoint.epochs_done)
        # Last thing before the first resumed epoch (fit's own setup may draw from them): the
        # global generators as the uninterrupted run had them when this backup was written.
        if "rng" in self.checkpoint.state:  # absent in backups written before the zoo kept it
            _set_rng_states(self.checkpoint.state["rng"])

    def _improved(self, value) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None or self.best["value"] is None:
            return True
        return value < self.best["value"] if self.mode == "min" else value > self.best["value"]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.rows.append({"epoch": epoch, **{k: _json_value(v) for k, v in sorted(logs.items())}})
        name = f"epoch-{epoch + 1:04d}"
        partial = self.folder / f".{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self.model.save_weights(partial / WEIGHTS)
        value = logs.get(self.monitor, logs.get("loss"))
        if self._improved(None if value is None else float(value)):
            self.base_model.save_weights(partial / BEST)
            self.best = {"value": _json_value(value), "epoch": epoch, "folder": name}
        state = {
            "epochs_done": epoch + 1,
            "epochs": self.epochs,
            "stop_training": bool(self.model.stop_training),
            "best": self.best,
            "history": self.rows,
            "callbacks": {type(c).__name__: {a: _json_value(getattr(c, a)) for a in CALLBACK_STATE[type(c)]}
                          for c in self.stateful},
            "seed_states": [np.asarray(keras.ops.convert_to_numpy(v)).tolist()
                            for v in _seed_variables(self.model)],
            "rng": _rng_states(),
        }
        (partial / STATE).write_text(json.dumps(state), "utf-8")
        target = self.folder / name
        if target.exists():  # a damaged backup of this epoch that the resume skipped
            storage.remove_dir(target)
        storage.fsync_tree(partial)
        os.replace(partial, target)
        storage.fsync_dir(self.folder)
        self._prune()

    def _prune(self):
        folders = sorted(self.folder.glob("epoch-[0-9]*"))
        keep = set(folders[-KEEP:])
        for folder in folders[-KEEP:]:
            best = json.loads((folder / STATE).read_text("utf-8"))["best"]
            if best is not None:
                keep.add(self.folder / best["folder"])
        for folder in folders:
            if folder not in keep:
                storage.remove_dir(folder)


def _trim_jsonl(path: pathlib.Path, epochs_done: int) -> None:
    if not path.is_file():
        return
    lines = path.read_text("utf-8").splitlines()
    kept = [line for line in lines if line.strip() and json.loads(line).get("epoch", 0) <= epochs_done]
    storage.atomic_write_text(path, "".join(line + "\n" for line in kept))


def _check_h5(path: pathlib.Path) -> None:
    """Raise if `path` is not a complete HDF5 file (every dataset read once)."""
    import h5py

    with h5py.File(path, "r") as f:
        f.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)


def restore(folder, fit_model, warn=None) -> Checkpoint | None:
    """Load the newest usable backup in `folder` into `fit_model` (weights, optimizer, seed
    generators); the global generators' states are checked here and set by
    :meth:`RunBackup.on_train_begin`, the last step before the resumed epoch.

    A backup that does not load is reported through `warn` and the next older one is tried;
    with none usable, the model's variables are put back as they were and None is returned.
    """
    warn = warn or (lambda message: print(f"zoo: {message}", file=sys.stderr))
    folder = pathlib.Path(folder)
    candidates = sorted(folder.glob("epoch-[0-9]*"), reverse=True)
    if not candidates:
        return None
    variables = [*fit_model.variables, *fit_model.optimizer.variables]
    initial = [keras.ops.convert_to_numpy(v) for v in variables]
    for candidate in candidates:
        try:
            state = json.loads((candidate / STATE).read_text("utf-8"))
            checkpoint = Checkpoint(candidate, state)
            if checkpoint.best_weights is not None:
                _check_h5(checkpoint.best_weights)
            fit_model.load_weights(candidate / WEIGHTS)
            seeds = _seed_variables(fit_model)
            if len(seeds) != len(state["seed_states"]):
                raise ValueError(f"{len(state['seed_states'])} RNG states saved, the model has {len(seeds)}")
            for variable, value in zip(seeds, state["seed_states"]):
                variable.assign(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype)))
            if "rng" in state:  # set by RunBackup.on_train_begin, right before the resumed epoch
                _check_rng_states(state["rng"])
        except Exception as error:  # a damaged file raises anything from OSError to KeyError
            warn(f"backup {candidate} is damaged ({type(error).__name__}: {first_line(error)}); "
                 f"falling back to an older one")
            continue
        if candidate != candidates[0]:
            warn(f"resuming from the backup after epoch {checkpoint.epochs_done}")
        return checkpoint
    for variable, value in zip(variables, initial):
        variable.assign(value)
    warn(f"no usable backup in {folder}; training starts again from epoch 1")
    return None
