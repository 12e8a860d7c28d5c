"""Shared test setup. The suite runs once per backend: KERAS_BACKEND picks it."""

import atexit
import os
import pathlib
import shutil
import sys
import tempfile

import numpy as np
import pytest

from zoo.data import images, text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The zoo's per-machine cache (the bfloat16 probe's results) in a folder of this test session,
# never the user's: each pass measures once, and its subprocesses share it.
if "ZOO_CACHE_DIR" not in os.environ:
    os.environ["ZOO_CACHE_DIR"] = tempfile.mkdtemp(prefix="zoo-test-cache-")
    atexit.register(shutil.rmtree, os.environ["ZOO_CACHE_DIR"], True)

# Files whose subject does not depend on the Keras backend run in one pass only.
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
collect_ignore = [] if BACKEND == "tensorflow" else ["test_deployment.py"]

# The real data the tests read, found the way the zoo finds it (never a path of one machine).
DATA = {
    "fashion_mnist": pathlib.Path(images.DEFAULT_IDX_DIRS["fashion_mnist"]),
    "tiny_shakespeare": text.shared_data_dir() / "tiny_shakespeare" / "input.txt",
    "jaychou_lyrics": text.shared_data_dir() / "jaychou_lyrics" / "jaychou_lyrics.txt.zip",
}


def recipe_data(name: str) -> str | None:
    """The real data set (a key of DATA) recipe `name` trains on, read from its data config;
    None for a recipe that generates its data."""
    from zoo.recipe import load_recipe
    from zoo.tasks import get_task

    recipe = load_recipe(name)
    key = get_task(recipe.task).data_key(recipe.data)
    return key if key in DATA else None


def require_recipe_data(name: str) -> None:
    """Skip the test, saying what to install, when recipe `name`'s real data is absent."""
    if (dataset := recipe_data(name)) is not None:
        require_data(dataset)


def require_data(name: str) -> pathlib.Path:
    """The path of data set `name`; skips the test, saying what to install, when it is absent."""
    path = DATA[name]
    if not path.exists():
        pytest.skip(f"{path} is absent (apt-get install dataset-fashion-mnist / ../shared/data)")
    return path


_unexpected_skips = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _unexpected_skips.append(f"{report.nodeid}: {report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr}")


def pytest_sessionfinish(session, exitstatus):
    """With ZOO_NO_SKIPS=1 (set by .ci/run, where all the data is installed) a skipped test
    fails the run: a skip there means a test silently stopped testing."""
    if os.environ.get("ZOO_NO_SKIPS") == "1" and _unexpected_skips:
        missing = [str(p) for p in DATA.values() if not p.exists()]
        print("\nZOO_NO_SKIPS=1 but these tests were skipped" + (f" (data absent: {missing})" if missing else "")
              + ":\n  " + "\n  ".join(_unexpected_skips))
        session.exitstatus = 1


def pytest_collection_modifyitems(config, items):
    """A test marked ``@pytest.mark.backend("torch")`` runs in that backend's pass only: the
    other passes leave it out (not a skip, which ZOO_NO_SKIPS=1 would count as lost)."""
    other = [item for item in items if (marker := item.get_closest_marker("backend")) and BACKEND not in marker.args]
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = [item for item in items if item not in other]


def pytest_report_header(config):
    return f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'tensorflow (default)')}"


def to_numpy(value):
    """A backend tensor (or list of them) as numpy."""
    import keras

    if isinstance(value, (list, tuple)):
        return [to_numpy(v) for v in value]
    return np.asarray(keras.ops.convert_to_numpy(value))


def subprocess_env() -> dict:
    """Environment for subprocesses: the repo importable, quiet TensorFlow logs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


@pytest.fixture
def python_env():
    """:func:`subprocess_env`, fresh for each test to change."""
    return subprocess_env()


PYTHON = sys.executable


@pytest.fixture
def mock_tfds_images(tmp_path):
    """``mock_tfds_images(name, n)``: a context where ``tfds.load(name)`` serves n fake examples.

    MNIST cannot be downloaded here, so its tfds code path runs on tfds's mock data. The mock
    needs a dataset_info.json with split sizes: without one, ``batch_size=-1`` batches by
    sys.maxsize and the process aborts (std::length_error) in tfds 4.9.10.
    """
    import contextlib
    import json

    import tensorflow_datasets as tfds

    @contextlib.contextmanager
    def mock(name, num_examples):
        version = str(tfds.builder_cls(name).VERSION)
        version_dir = tmp_path / "tfds" / name / version
        version_dir.mkdir(parents=True)
        splits = [{"name": s, "shardLengths": [str(num_examples)], "numBytes": "0"} for s in ("train", "test")]
        info = {"name": name, "version": version, "fileFormat": "tfrecord", "splits": splits}
        (version_dir / "dataset_info.json").write_text(json.dumps(info))
        with tfds.testing.mock_data(num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_FILES,
                                    data_dir=str(tmp_path / "tfds")):
            yield

    return mock


@pytest.fixture(scope="session")
def word_pairs_run(tmp_path_factory):
    """The real seq2seq_word_pairs recipe trained (100 epochs, seconds) under this backend,
    shared by the tests that decode or export a trained model."""
    from zoo.recipe import load_recipe
    from zoo.training import train

    run = tmp_path_factory.mktemp("runs") / "word_pairs"
    train(load_recipe("seq2seq_word_pairs").replace(epochs=100), out_dir=run, verbose=0)
    return run


def random_batch(model, batch_size, time_steps=7, seed=0):
    """Random inputs any registered model takes, and integer targets for its logits.

    Token inputs draw ids below the smallest embedding's vocabulary; other inputs draw
    values in [0, 1). Open time dimensions get `time_steps`; targets follow the logits'
    shape (one per example, or one per time step).
    """
    import keras

    rng = np.random.default_rng(seed)
    vocab = min((layer.input_dim for layer in model.layers if isinstance(layer, keras.layers.Embedding)), default=0)
    arrays = []
    for tensor in model.inputs:
        shape = [batch_size] + [time_steps if d is None else int(d) for d in tensor.shape[1:]]
        if "int" in str(tensor.dtype):
            arrays.append(rng.integers(0, vocab, size=shape).astype("int32"))
        else:
            arrays.append(rng.random(shape, dtype=np.float32))
    # One target per logit vector: per example, per time step, or per pixel of each row.
    target_shape = [batch_size] + [time_steps if d is None else int(d) for d in model.outputs[0].shape[1:-1]]
    y = rng.integers(0, model.outputs[0].shape[-1], size=target_shape).astype("int32")
    return (arrays if len(arrays) > 1 else arrays[0]), y


def stepwise_logits(spec, model, x):
    """The logits of `model` on `x` computed through the family's inference models, one
    step at a time: the step model from zero states (language models), or the encoder and
    then the step with teacher forcing (encoder-decoders, the class-conditioned generator)."""
    models = spec.inference_models(model)
    if "encoder" in models:
        source, tokens = x
        encoder, step = models["encoder"], models.get("decoder_step") or models["step"]
        states = encoder.run({encoder.input_names[0]: source})
    else:
        tokens, step = x, models["step"]
        states = step.zero_states(len(tokens))
    step_fn, logits = step.step_function(), []
    for t in range(tokens.shape[1]):
        step_logits, states = step_fn(tokens[:, t : t + 1], states)
        logits.append(step_logits)
    return np.stack(logits, axis=1)
