"""Data-parallel and multi-worker training (``--distribute data-parallel``) on this CPU, and
mixed precision (``--precision``).

Each backend pass tests its own engine: jax splits batches over two virtual host devices
(``XLA_FLAGS``), tensorflow over two logical CPUs (``MirroredStrategy``); both train with
two local worker processes (JAX's multi-process environment, ``TF_CONFIG``); torch, which
Keras 3 cannot distribute, gives the one-line error.
"""

import csv
import json
import os
import signal
import socket
import subprocess

import keras
import numpy as np
import pytest

from conftest import PYTHON, subprocess_env
from zoo.cli import main as zoo
from zoo.training import staging_dir

BACKEND = keras.backend.backend()
WORKER = os.path.join(os.path.dirname(__file__), "distribute_worker.py")
# seq2seq_addition: generated data, two model inputs; 200 examples leave an uneven last batch.
# float32, not the recipe's auto: where the precision probe picks bfloat16 (tensorflow on an AMD
# EPYC with AVX512-BF16), splitting a batch moves bfloat16 roundings and the curves part by
# 1.5e-5 after two epochs, which says nothing about the all-reduce this file checks.
TRAIN = ["train", "seq2seq_addition", "--preset", "tiny", "--epochs", "3", "--limit", "200", "--batch-size", "32",
         "--precision", "float32"]
# How far the data-parallel loss curve may stray from the one-device curve: the two devices'
# gradients are summed by an all-reduce, which only reassociates float32 sums (2e-7 measured
# on both backends; jax gives an uneven last batch whole to both devices, tensorflow splits
# it). The recipe's one-cycle schedule makes the curve show any step the optimizer counts
# that one device does not (tensorflow used to count one failed step past each epoch's end:
# 2% apart after three epochs).
TOLERANCE = {"jax": 1e-5, "tensorflow": 1e-5}


def run_worker(tmp_path, name, args, env):
    """Run the zoo in a worker subprocess; (exit status, observed splits, stderr)."""
    observations = tmp_path / f"{name}.json"
    result = subprocess.run([PYTHON, WORKER, str(observations), *args], env=env, capture_output=True, text=True,
                            timeout=600)
    if result.returncode == -signal.SIGKILL:  # killed on purpose (ZOO_TEST_KILL_AT_EPOCH)
        return None, [], result.stderr
    if not observations.exists():
        pytest.fail(f"{name} crashed:\n{result.stderr[-3000:]}")
    seen = json.loads(observations.read_text())
    return seen["status"], seen["splits"], result.stderr


def history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def two_device_env(python_env):
    return dict(python_env, KERAS_BACKEND=BACKEND, ZOO_TEST_LOGICAL_CPUS="2",
                XLA_FLAGS="--xla_force_host_platform_device_count=2")


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory):
    """The recipe trained on one device, in this process."""
    run = tmp_path_factory.mktemp("one_device") / "run"
    assert zoo([*TRAIN, "--out", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def data_parallel_run(tmp_path_factory):
    """The recipe trained data-parallel on two devices: (run folder, splits, exit status, stderr)."""
    folder = tmp_path_factory.mktemp("data_parallel")
    run = folder / "run"
    status, splits, stderr = run_worker(folder, "dp", [*TRAIN, "--out", str(run), "--distribute", "data-parallel"],
                                        two_device_env(subprocess_env()))
    return run, splits, status, stderr


def test_data_parallel_splits_batches_and_follows_the_one_device_curve(one_device_run, data_parallel_run):
    run, splits, status, stderr = data_parallel_run
    if BACKEND == "torch":
        assert status == 2
        assert "--distribute data-parallel: the torch backend of Keras 3 has no distribution API" in stderr
        assert "--backend jax or --backend tensorflow" in stderr and "Traceback" not in stderr
        assert not run.exists()
        return
    assert status == 0, stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert (config["distribute"], config["devices"], config["workers"]) == ("data-parallel", 2, 1)
    # Every full batch of 32 went out as two halves of 16, one per device.
    assert [16, 16] in splits and all(len(split) == 2 for split in splits), splits
    single, parallel = history(one_device_run), history(run)
    assert len(single) == len(parallel) == 3
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose([float(r[key]) for r in parallel], [float(r[key]) for r in single],
                                   rtol=TOLERANCE[BACKEND], err_msg=key)


# torch cannot train data-parallel (its one-line error is tested above): no run to resume.
if BACKEND != "torch":
    def test_data_parallel_run_killed_mid_training_resumes_to_the_same_run(data_parallel_run, tmp_path, python_env):
        run = tmp_path / "run"
        args = [*TRAIN, "--out", str(run), "--distribute", "data-parallel"]
        status, _, _ = run_worker(tmp_path, "killed", args, dict(two_device_env(python_env), ZOO_TEST_KILL_AT_EPOCH="2"))
        assert status is None and not run.exists()  # killed as epoch 3 began: nothing published
        assert (staging_dir(run) / "backups" / "epoch-0002").is_dir()  # the second epoch kept to resume from
        status, _, stderr = run_worker(tmp_path, "resumed", args, two_device_env(python_env))
        assert status == 0, stderr[-3000:]
        whole, resumed = history(data_parallel_run[0]), history(run)
        assert len(resumed) == 3
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose([float(r[key]) for r in resumed], [float(r[key]) for r in whole],
                                       rtol=TOLERANCE[BACKEND], err_msg=key)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def worker_envs(python_env, workers=2):
    """The environment of each local worker process: TF_CONFIG, or JAX's multi-process variables."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    envs = []
    for index in range(workers):
        env = dict(python_env, KERAS_BACKEND=BACKEND)
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
        env.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=",".join(addresses), KERAS_DISTRIBUTION_NUM_PROCESSES=str(workers),
                   KERAS_DISTRIBUTION_PROCESS_ID=str(index))
        envs.append(env)
    return envs


def test_two_workers_write_one_run_folder_that_exports(one_device_run, tmp_path, python_env):
    run = tmp_path / "run"
    args = [*TRAIN, "--out", str(run), "--distribute", "data-parallel"]
    if BACKEND == "torch":  # the one-line error, also with a multi-worker environment
        status, _, stderr = run_worker(tmp_path, "worker0", args, worker_envs(python_env)[0])
        assert status == 2 and "has no distribution API" in stderr and "Traceback" not in stderr
        return
    processes = []
    for index, env in enumerate(worker_envs(python_env)):
        observations = tmp_path / f"worker{index}.json"
        processes.append((observations, subprocess.Popen([PYTHON, WORKER, str(observations), *args], env=env,
                                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    outputs = [process.communicate(timeout=600) for _, process in processes]
    for (observations, process), (_, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
    splits = [json.loads(observations.read_text())["splits"] for observations, _ in processes]
    # Each worker fed 16 rows of every batch of 32.
    assert all([16] in worker for worker in splits), splits
    config = json.loads((run / "config.json").read_text())
    assert (config["devices"], config["workers"]) == (2, 2)
    # One run folder: the other worker's backups are gone, nothing half-written is left.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("run", ".run"))) == ["run"]
    # Validation sees the same examples and weights at each epoch as the one-device run.
    np.testing.assert_allclose([float(r["val_loss"]) for r in history(run)],
                               [float(r["val_loss"]) for r in history(one_device_run)], rtol=TOLERANCE[BACKEND])
    assert zoo(["export", str(run), "--format", "onnx"]) == 0  # exports and verifies against Keras


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_and_saves_a_float32_model(precision, tmp_path):
    run = tmp_path / "run"
    assert zoo(["train", "seq2seq_addition", "--preset", "tiny", "--epochs", "1", "--limit", "64",
                "--out", str(run), "--precision", precision]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert np.isfinite(metrics["test_loss"])
    assert json.loads((run / "config.json").read_text())["precision"] == precision
    model = keras.saving.load_model(run / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert zoo(["export", str(run), "--format", "onnx"]) == 0  # float32 artifacts, verified


def test_mixed_precision_model_computes_logits_in_float32():
    from zoo.distribute import precision_policy
    from zoo.registry import create_model

    with precision_policy("mixed_bfloat16"):
        model = create_model("lstm_classifier", "tiny")
    assert model.get_layer("logits").compute_dtype == "float32"
    assert {layer.compute_dtype for layer in model.layers if "lstm" in layer.name} == {"bfloat16"}
    assert keras.config.dtype_policy().name == "float32"  # restored after the block


@pytest.mark.parametrize("backend, gpu, expected", [
    ("jax", (9, 0), "mixed_bfloat16"),  # bfloat16 tensor cores
    ("torch", (8, 0), "mixed_bfloat16"),
    ("tensorflow", (7, 5), "float32"),  # a GPU without them
])
def test_auto_precision_on_a_gpu_follows_its_bfloat16_tensor_cores(backend, gpu, expected, monkeypatch):
    from zoo.distribute import precision, precision_probe

    monkeypatch.setattr(precision, "gpu_compute_capability", lambda backend=None: gpu)
    monkeypatch.setattr(precision_probe, "measured", lambda backend: pytest.fail("a GPU is not probed"))
    assert precision.resolve_precision("auto", backend) == expected
    assert precision.resolve_precision("float32", backend) == "float32"  # an explicit choice stays


def test_auto_precision_is_recorded_as_what_it_chose(tmp_path):
    from zoo.distribute import resolve_precision

    run = tmp_path / "run"
    assert zoo(["train", "seq2seq_addition", "--preset", "tiny", "--epochs", "1", "--limit", "64",
                "--out", str(run)]) == 0  # the recipe's precision: auto
    assert json.loads((run / "config.json").read_text())["precision"] == resolve_precision("auto")


@pytest.mark.parametrize("args, message", [
    (["--precision", "float8"], "Invalid value for '--precision'"),
    (["--distribute", "everywhere"], "Invalid value for '--distribute'"),
])
def test_bad_distribution_options_are_one_line_errors(args, message, tmp_path, capsys):
    assert zoo([*TRAIN, "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


# torch cannot train data-parallel: no Keras internals are patched for it.
if BACKEND != "torch":
    def test_keras_workarounds_find_the_keras_internals_they_patch():
        """On the installed Keras each patch finds the private function it replaces, called as it
        was read, and passes its probe: a Keras that moved one fails here, not as a data-parallel
        run failing in Keras."""
        from zoo.compat import keras_distribute

        if BACKEND == "jax":
            assert keras_distribute.jax_data_input_module() is not None
        else:
            model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            assert keras_distribute.tf_trainer_as_read(model)
            model.compile(keras.optimizers.Adam(clipnorm=1.0), "mse")
            assert keras_distribute.tf_optimizer_as_read(model.optimizer)
            assert keras_distribute._clip_unusable(model.optimizer) == ""


# Trains a small regression net with a clip that bites, on one device and mirrored on two
# logical CPUs (Keras's clipping as it is, then clip_after_all_reduce), and prints how far each
# mirrored run's weights end from the one-device weights.
CLIPPED_MIRRORED_RUNS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import json, keras, numpy as np
from zoo.compat.keras_distribute import clip_after_all_reduce

rng = np.random.default_rng(0)
x, y = rng.normal(size=(64, 8)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")

def trained(strategy, patch):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(0.01, clipnorm=1e-2), "mse", steps_per_execution=1)
        if patch:
            clip_after_all_reduce(model.optimizer)
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    return np.concatenate([w.ravel() for w in model.get_weights()])

one = trained(tf.distribute.get_strategy(), False)
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
print(json.dumps({name: float(np.abs(trained(mirrored, patch) - one).max())
                  for name, patch in (("keras", False), ("zoo", True))}))
"""


if BACKEND == "tensorflow":  # jax's data-parallel gradient is the global batch's before any clipping
    def test_a_mirrored_run_clips_the_batch_gradient_as_one_device_does(python_env):
        result = subprocess.run([PYTHON, "-c", CLIPPED_MIRRORED_RUNS], env=dict(python_env, KERAS_BACKEND=BACKEND),
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        distance = json.loads(result.stdout.strip().splitlines()[-1])
        assert distance["keras"] > 1e-3, distance  # Keras clips each replica's share: the runs part
        assert distance["zoo"] < 1e-6, distance


def test_batch_slices_partition_every_batch_in_every_epoch():
    from zoo.distribute import BatchSlices
    from zoo.tasks.datasets import ShuffledArrays

    x, y = np.arange(13 * 3, dtype="float32").reshape(13, 3), np.arange(13)
    data = ShuffledArrays(x, y, batch_size=13, seed=0)  # one batch per epoch: 13 rows
    split = BatchSlices(data, parts=2, first=0, count=2)  # one process feeding both devices
    for epoch in range(2):
        data.start_epoch(epoch)  # as DataEpoch does
        whole = data[0]
        parts = [split[0], split[1]]
        assert [len(p[1]) for p in parts] == [6, 7]
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), whole[1])
        assert BatchSlices(data, parts=2, first=1, count=1, uneven="whole")[0][1].tolist() == whole[1].tolist()
    assert not np.array_equal(data[0][1], ShuffledArrays(x, y, batch_size=13, seed=0)[0][1])  # epochs differ
