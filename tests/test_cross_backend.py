"""A .keras file saved under this pass's backend loads under the other two, same outputs.

The README's test loop runs this under each backend, so all six (saved, loaded) pairs run.
"""

import os
import subprocess

import keras
import numpy as np
import pytest

from conftest import PYTHON, random_batch, to_numpy
from zoo.registry import get_spec, list_models

WORKER = os.path.join(os.path.dirname(__file__), "cross_backend_worker.py")
OTHER_BACKENDS = [b for b in ("tensorflow", "jax", "torch") if b != keras.backend.backend()]


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Every tiny model saved under this backend, with its inputs and outputs."""
    folder = tmp_path_factory.mktemp("cross_backend")
    expected = {}
    for name in list_models():
        spec = get_spec(name)
        config = spec.resolve("tiny")
        keras.utils.set_random_seed(0)
        model = spec.builder(**config)
        x, _ = random_batch(model, 3, seed=5)
        inputs = x if isinstance(x, list) else [x]
        model.save(folder / f"{name}.keras")
        np.savez(folder / f"{name}.inputs.npz", **{f"input_{i}": v for i, v in enumerate(inputs)})
        expected[name] = to_numpy(model(x))
    return folder, expected


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_saved_model_loads_under_other_backend(backend, saved_models, python_env):
    folder, expected = saved_models
    env = dict(python_env, KERAS_BACKEND=backend)
    result = subprocess.run([PYTHON, WORKER, str(folder)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for name, logits in expected.items():
        with np.load(folder / f"{name}.{backend}.npz") as data:
            np.testing.assert_allclose(data["logits"], logits, atol=1e-5, err_msg=f"{name} under {backend}")
