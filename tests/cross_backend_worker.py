"""Run in a subprocess under another KERAS_BACKEND: load every ``<name>.keras`` in a folder,
run it on ``<name>.inputs.npz`` and write ``<name>.<backend>.npz`` with the outputs."""

import pathlib
import sys

import keras
import numpy as np

from zoo.registry import load_families


def main(folder: str) -> None:
    backend = keras.backend.backend()
    load_families()  # registers the zoo's own layers, as zoo's loaders do
    for path in sorted(pathlib.Path(folder).glob("*.keras")):
        name = path.stem
        with np.load(path.with_name(f"{name}.inputs.npz")) as data:
            inputs = [data[key] for key in sorted(data.files)]
        model = keras.saving.load_model(path)
        outputs = model(inputs if len(inputs) > 1 else inputs[0])
        np.savez(path.with_name(f"{name}.{backend}.npz"), logits=keras.ops.convert_to_numpy(outputs))


if __name__ == "__main__":
    main(sys.argv[1])
