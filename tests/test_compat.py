"""The library patches (zoo/compat): each one's check runs and the report lists it, active or
with a reason; a patch whose check fails leaves the library's own path with that reason; the
torch fast path is switched on by building or loading a model, not by an import; `zoo env`
names the backend and the patches, and imports TensorFlow only on its backend."""

import contextlib
import json
import platform
import subprocess
import sys
import types

import keras
import numpy as np
import pytest

from conftest import REPO
from zoo import compat
from zoo.compat import keras_distribute, library_logs, malloc_threshold, tf_onednn, tf_threads, torch_rnn

BACKEND = keras.backend.backend()
STATES = ("active", "ready", "off", "not applicable")


@pytest.fixture
def fresh_distribute(monkeypatch):
    """The data-parallel patches as in a new process: never needed by a run, never probed."""
    monkeypatch.setattr(keras_distribute, "_outcomes", {})
    monkeypatch.setattr(keras_distribute, "_probes", {})
    return monkeypatch


def by_name() -> dict:
    return {row["name"]: row for row in compat.report()}


def test_the_report_lists_every_patch_active_or_with_a_reason(fresh_distribute):
    from zoo.registry import load_families

    load_families()  # what a model built here gets
    report = compat.report()
    assert [row["name"] for row in report] == [patch.name for patch in compat.PATCHES]
    for row, patch in zip(report, compat.PATCHES):
        assert row["applies"] == (BACKEND in patch.backends)
        assert row["state"] in STATES and (row["state"] == "not applicable") == (not row["applies"])
        assert row["active"] == (row["state"] == "active")
        assert bool(row["reason"]) != row["active"], row  # a reason exactly when not active
        assert row["touches"] and row["library"] and row["switched_on_by"]
    # On the pinned libraries no patch that applies here is off (the quiet import is off in a
    # test process whose TF_CPP_MIN_LOG_LEVEL was set: `zoo env` checks it below; the thread
    # setting where this test process ran TensorFlow before: a fresh process checks it below).
    off = {row["name"]: row["reason"] for row in report if row["state"] == "off"}
    assert set(off) <= {"tensorflow_quiet_import", "tf_intra_op_threads"}, report
    assert "runtime had started" in off.get("tf_intra_op_threads", "runtime had started") or \
        tf_threads.usable_cpus() > tf_threads.FEW_CPUS


def test_the_torch_fast_path_is_checked_against_keras_and_active_on_torch():
    """Building a model switched it on (the registry's load_families), after its probe."""
    from zoo.registry import create_model

    create_model("lstm_classifier", "tiny")
    row = by_name()["torch_fused_rnn"]
    if BACKEND != "torch":
        assert row["state"] == "not applicable" and torch_rnn.state() == ("off", "not the torch backend")
        return
    assert torch_rnn._state["probe"] == ""  # the check ran and passed
    assert row["state"] == "active" and row["reason"] == ""


def _cudnn_lstm_off_by_one(inputs, initial_state_h, initial_state_c, kernel, recurrent_kernel, bias,
                           return_sequences, device):
    """Keras's fused LSTM call, signature intact, computing something else."""
    last, outputs, states = KERAS_CUDNN_LSTM(inputs, initial_state_h, initial_state_c, kernel, recurrent_kernel, bias,
                                             return_sequences=return_sequences, device=device)
    return last + 1, outputs + 1, states


KERAS_CUDNN_LSTM = None


@pytest.mark.backend("torch")  # the fused path exists only on torch
def test_a_fused_path_that_computes_otherwise_is_left_off_with_its_reason(monkeypatch, capsys):
    global KERAS_CUDNN_LSTM
    rnn = torch_rnn._keras_torch_rnn()
    torch_rnn.disable()
    KERAS_CUDNN_LSTM = rnn._cudnn_lstm
    monkeypatch.setattr(rnn, "_cudnn_lstm", _cudnn_lstm_off_by_one)
    monkeypatch.setitem(torch_rnn._state, "warned", False)
    monkeypatch.setitem(torch_rnn._state, "probe", None)
    try:
        assert torch_rnn.enable() is False and torch_rnn.enable() is False
        said = capsys.readouterr().err.splitlines()
        assert len(said) == 1 and "its check against Keras's own path failed: LSTM: outputs" in said[0], said
        state, reason = torch_rnn.state()
        assert state == "off" and reason.startswith("its check against Keras's own path failed: LSTM")
        assert by_name()["torch_fused_rnn"]["reason"] == reason
        from keras.src import backend

        assert backend.lstm.__module__ == "keras.src.backend.torch.rnn"  # Keras's own path, put back
        assert "inner_loop" not in vars(keras.layers.SimpleRNN)  # RNN.inner_loop inherited again
    finally:
        monkeypatch.undo()
        torch_rnn._state["probe"] = None
        assert torch_rnn.enable()


NOT_BY_IMPORT = """
import sys
import zoo
import keras  # registers the families' layers: every family module, and zoo.layers, imported
from zoo.compat import torch_rnn
from keras.src import backend
print("zoo.layers" in sys.modules, torch_rnn.state()[0], backend.lstm.__module__)
print(torch_rnn.enable(), torch_rnn.state()[0], backend.lstm.__module__)
"""


def test_importing_zoo_layers_does_not_switch_the_torch_fast_path_on(python_env):
    python_env["KERAS_BACKEND"] = BACKEND
    done = subprocess.run([sys.executable, "-c", NOT_BY_IMPORT], env=python_env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    keras_rnn = f"keras.src.backend.{BACKEND}.rnn"
    last = "True active zoo.compat.torch_rnn" if BACKEND == "torch" else f"False off {keras_rnn}"
    assert done.stdout.splitlines() == [f"True off {keras_rnn}", last]


# ---------------------------------------------------------------------- tensorflow's quiet import
def test_tensorflow_loads_unheld_where_stderr_cannot_be_held(monkeypatch):
    assert library_logs._stderr_unholdable() == ""  # the check passes here

    @contextlib.contextmanager
    def no_descriptor():
        raise OSError(9, "Bad file descriptor")
        yield

    monkeypatch.setattr(library_logs, "stderr_held", no_descriptor)
    monkeypatch.setattr(library_logs, "_outcome", {})
    monkeypatch.delenv(library_logs.VERBOSE_ENV, raising=False)
    loaded = []
    library_logs._load_tensorflow_quietly(loaded.append, "module")
    assert loaded == ["module"]  # the library's own loader ran, unheld
    assert library_logs.state() == ("off", "file descriptor 2 cannot be redirected (Bad file descriptor)")


def test_the_quiet_import_says_why_it_is_off(monkeypatch):
    monkeypatch.setattr(library_logs, "_outcome", {})
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if getattr(f, "name", None) != "tensorflow"])
    monkeypatch.setenv(library_logs.VERBOSE_ENV, "1")
    assert library_logs.state() == ("off", "--verbose (or ZOO_VERBOSE=1) shows TensorFlow's logs")
    monkeypatch.delenv(library_logs.VERBOSE_ENV)
    monkeypatch.setenv(library_logs.TF_LOG_LEVEL_ENV, "0")
    assert library_logs.state() == ("off", "TF_CPP_MIN_LOG_LEVEL=0 was set by the user")


# ---------------------------------------------------------------------- the data-parallel patches
@pytest.mark.backend("jax")  # a patch of Keras's JAX trainer
def test_the_jax_batch_placement_is_probed_and_left_out_where_it_misplaces(fresh_distribute):
    assert keras_distribute.jax_data_input_module() is not None
    assert keras_distribute._probes == {"jax_even_batches": ""}
    assert by_name()["jax_even_batches"]["state"] == "ready"
    from keras.src.backend.jax import distribution_lib

    fresh_distribute.setattr(keras_distribute, "_probes", {})
    fresh_distribute.setattr(distribution_lib, "distribute_data_input",
                             lambda batch, layout, batch_dim_name: np.zeros_like(batch))
    assert keras_distribute.jax_data_input_module() is None
    state, reason = keras_distribute.state("jax_even_batches")
    assert state == "off" and "was not placed as it is" in reason
    misplacing = distribution_lib.distribute_data_input
    with keras_distribute.EvenDataParallel().scope():
        assert distribution_lib.distribute_data_input is misplacing  # not wrapped
    assert keras_distribute.state("jax_even_batches") == ("off", reason)


@pytest.mark.backend("tensorflow")  # a patch of Keras's TensorFlow optimizer
@pytest.mark.parametrize("clip", [{"clipnorm": 0.5}, {"global_clipnorm": 2.0}, {"clipvalue": 0.1}])
def test_the_optimizer_clipping_is_probed_and_left_out_where_it_does_not_clip(fresh_distribute, clip):
    assert keras_distribute._clip_unusable(keras.optimizers.Adam(**clip)) == ""
    optimizer = keras.optimizers.Adam(**clip)
    optimizer._clip_gradients = lambda grads: grads  # called as read, but no longer clipping
    keras_distribute.clip_after_all_reduce(optimizer)
    assert optimizer._all_reduce_sum_gradients is not list  # left as Keras has it
    state, reason = keras_distribute.state("tf_clip_after_all_reduce")
    assert state == "off" and reason.startswith("its probe clipped")
    keras_distribute.clip_after_all_reduce(keras.optimizers.Adam(**clip))
    assert keras_distribute.state("tf_clip_after_all_reduce") == ("active", "")


@pytest.mark.backend("tensorflow")  # a patch of Keras's TensorFlow trainer
def test_the_multi_worker_patch_is_left_out_where_the_trainer_is_not_as_read(fresh_distribute):
    assert keras_distribute.state("tf_multi_worker")[0] == "ready"
    keras_distribute.multi_worker_ready(types.SimpleNamespace(), strategy=None)  # no trainer internals
    state, reason = keras_distribute.state("tf_multi_worker")
    assert state == "off" and reason.startswith("Keras's TensorFlow trainer no longer has")


def test_the_steps_per_epoch_patch_checks_the_cardinality_it_replaces(fresh_distribute):
    """Plain objects in place of TensorFlow's: the patch reads only these two attributes."""
    strategy = types.SimpleNamespace(extended=types.SimpleNamespace(worker_devices=["/cpu:0", "/cpu:1"]))
    read_as = types.SimpleNamespace(_cardinality=10)
    assert keras_distribute.steps_are_global_batches(read_as, strategy, 5)._cardinality == 5
    assert keras_distribute.state("tf_global_steps_per_epoch") == ("active", "")
    changed = types.SimpleNamespace(_cardinality=7)
    assert keras_distribute.steps_are_global_batches(changed, strategy, 5)._cardinality == 7
    state, reason = keras_distribute.state("tf_global_steps_per_epoch")
    assert state == "off" and "_cardinality is 7, not the one-pipeline count 10" in reason


# ---------------------------------------------------------------------- TensorFlow's mmap threshold
TRAIN_ON_A_PYDATASET = """
import keras, numpy as np
from zoo.registry import create_model
from zoo.compat import malloc_threshold

class Batches(keras.utils.PyDataset):  # Keras trains on it through tf.data.Dataset.from_generator
    def __len__(self):
        return 4
    def __getitem__(self, index):
        return np.ones((8, 28, 28), "float32"), np.zeros(8, "int32")

model = create_model("lstm_classifier", "tiny")
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(Batches(), epochs=2, verbose=0)
print(*malloc_threshold.state(), malloc_threshold.heap_serves(16 << 20), sep=" / ")
"""


@pytest.mark.parametrize("threshold", ["", "0"], ids=["default", "ZOO_MMAP_THRESHOLD=0"])
def test_tensors_come_from_the_heap_after_training_on_a_pydataset_unless_opted_out(python_env, threshold):
    """After Keras trained on a PyDataset, glibc serves a 16 MiB block from the heap, as the
    zoo set it when the model was built. The cause of TensorFlow's two speeds, shown by the
    opt-out: there it comes from mmap (TensorFlow's mallopt froze the threshold at 128 KiB);
    on the other backends glibc's dynamic threshold decides. Fresh processes: the setting is
    process-wide."""
    python_env.update(KERAS_BACKEND=BACKEND, ZOO_MMAP_THRESHOLD=threshold)
    done = subprocess.run([sys.executable, "-c", TRAIN_ON_A_PYDATASET], env=python_env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    if threshold == "0":
        expected = "off / disabled by ZOO_MMAP_THRESHOLD=0 / "
        assert done.stdout.strip() in ([expected + "False"] if BACKEND == "tensorflow" else
                                       [expected + "False", expected + "True"])
    else:
        assert done.stdout.strip() == "active /  / True"


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", str(64 << 20)])
def test_a_malformed_mmap_threshold_is_a_one_line_error(monkeypatch, value):
    from zoo.errors import ZooError

    monkeypatch.setenv("ZOO_MMAP_THRESHOLD", value)
    with pytest.raises(ZooError, match=r"^ZOO_MMAP_THRESHOLD=.*: expected a whole number of bytes from 0 "):
        malloc_threshold.threshold()
    monkeypatch.setenv("ZOO_MMAP_THRESHOLD", "1048576")
    assert malloc_threshold.threshold() == 1 << 20


# ---------------------------------------------------------------------- TensorFlow's intra-op threads
TRAIN_AND_READ_THREADS = """
import sys
import zoo
if sys.argv[1] == "started":
    import tensorflow as tf
    tf.constant(1.0) + 1.0  # a program that ran TensorFlow before building a zoo model
zoo.train("seq2seq_addition", preset="tiny", epochs=1, limit=32, out_dir=sys.argv[2])
import tensorflow as tf
from zoo.compat import tf_threads
print(tf.config.threading.get_intra_op_parallelism_threads(), *tf_threads.state(), sep="|")
"""


@pytest.mark.backend("tensorflow")  # the setting is TensorFlow's
@pytest.mark.parametrize("setting, started", [("", ""), ("3", ""), ("0", ""), ("", "started")],
                         ids=["default", "three", "tensorflows-default", "runtime-started-first"])
def test_tensorflow_trains_with_the_zoos_intra_op_threads(python_env, tmp_path, setting, started):
    """A zoo run on tensorflow sets the intra-op threads before TensorFlow's runtime starts:
    one on a machine of two CPUs or fewer, ZOO_TF_INTRA_OP_THREADS where given, TensorFlow's
    default (0) for 0; a runtime started before the zoo keeps its setting, and says so."""
    python_env.update(KERAS_BACKEND=BACKEND, ZOO_TF_INTRA_OP_THREADS=setting)
    done = subprocess.run([sys.executable, "-c", TRAIN_AND_READ_THREADS, started or "fresh", str(tmp_path / "run")],
                          env=python_env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    threads, state, reason = done.stdout.strip().splitlines()[-1].split("|")
    if started:
        assert (threads, state) == ("0", "off") and "runtime had started" in reason
    elif setting == "0":
        assert (threads, state) == ("0", "off") and "ZOO_TF_INTRA_OP_THREADS=0" in reason
    else:
        expected = int(setting or (1 if tf_threads.usable_cpus() <= tf_threads.FEW_CPUS else 0))
        assert int(threads) == expected and state == ("active" if expected else "off")
        assert reason == "" if expected else "more than 2" in reason


# ---------------------------------------------------------------------- TensorFlow's oneDNN kernels
IMPORT_AND_READ_ONEDNN = """
import os, sys
if sys.argv[1] == "started":
    import tensorflow  # a program that loaded TensorFlow before importing the zoo
import zoo
import keras
from tensorflow.python.util import _pywrap_util_port
from zoo.compat import tf_onednn
print(os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""), _pywrap_util_port.IsMklEnabled(), *tf_onednn.state(), sep="|")
"""


@pytest.mark.backend("tensorflow")  # the kernels are TensorFlow's
@pytest.mark.parametrize("setting, started", [("", ""), ("0", ""), ("", "started")],
                         ids=["default", "user-chose-eigen", "tensorflow-loaded-first"])
def test_tensorflow_loads_its_onednn_kernels_after_import_zoo(python_env, setting, started):
    """`import zoo` sets TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow loads (x86-64), so TensorFlow
    runs oneDNN's kernels on every CPU, those where its own default is Eigen included; a
    user's 0 keeps Eigen; a TensorFlow loaded first keeps its choice, and the state says why."""
    python_env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if setting:
        python_env["TF_ENABLE_ONEDNN_OPTS"] = setting
    python_env["KERAS_BACKEND"] = BACKEND
    done = subprocess.run([sys.executable, "-c", IMPORT_AND_READ_ONEDNN, started or "fresh"], env=python_env,
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    value, onednn, state, reason = done.stdout.strip().splitlines()[-1].split("|")
    if setting == "0":  # checked first, as enable() does: the user's choice stands on any CPU
        assert (value, onednn, state) == ("0", "False", "off") and "TF_ENABLE_ONEDNN_OPTS=0 was set by the user" in reason
    elif platform.machine().lower() not in tf_onednn.X86_64:
        assert (value, state) == (setting, "off") and "x86-64 only" in reason
    elif started:
        assert (value, state) == ("", "off") and "imported before the zoo" in reason
    else:
        assert (value, onednn, state, reason) == ("1", "True", "active", "")


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "5000"])
def test_a_malformed_thread_count_is_a_one_line_error(monkeypatch, value):
    from zoo.errors import ZooError

    monkeypatch.setenv("ZOO_TF_INTRA_OP_THREADS", value)
    with pytest.raises(ZooError, match=r"^ZOO_TF_INTRA_OP_THREADS=.*: expected a whole number of threads from 0 "):
        tf_threads.threads()
    monkeypatch.setenv("ZOO_TF_INTRA_OP_THREADS", "4")
    assert tf_threads.threads() == 4


# ---------------------------------------------------------------------- zoo env
def zoo_env(python_env, *args):
    """`zoo env ARGS` in a fresh process, and whether that process imported TensorFlow."""
    code = ("import sys\nfrom zoo.cli import main\ncode = main(sys.argv[1:])\n"
            "print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr)\nsys.exit(code)")
    python_env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    python_env["KERAS_BACKEND"] = BACKEND
    done = subprocess.run([sys.executable, "-c", code, "env", *args], env=python_env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr


def test_zoo_env_json_names_the_backend_the_precision_and_the_patches(python_env):
    out, err = zoo_env(python_env, "--json")
    assert err == f"tensorflow imported: {BACKEND == 'tensorflow'}\n"  # nothing else: no library's log
    found = json.loads(out)
    assert found["backend"] == BACKEND and found["versions"]["keras"] == keras.__version__
    assert found["devices"] and found["machine"]
    from zoo.distribute import resolve_precision

    assert found["precision"]["auto"] == resolve_precision("auto") and found["precision"]["reason"]
    patches = {row["name"]: row for row in found["compat"]}
    assert list(patches) == [patch.name for patch in compat.PATCHES]
    assert patches["tensorflow_quiet_import"]["state"] == "active"
    # What a model built here gets: on torch the fused path, checked and switched on.
    assert patches["torch_fused_rnn"]["state"] == ("active" if BACKEND == "torch" else "not applicable")
    assert not [row for row in patches.values() if row["state"] == "off"], patches


def test_zoo_env_prints_the_same_for_a_person(python_env):
    out, err = zoo_env(python_env)
    assert err == f"tensorflow imported: {BACKEND == 'tensorflow'}\n"
    lines = out.splitlines()
    assert lines[0].startswith(f"backend    {BACKEND} (") and any(line.startswith("precision  auto picks ")
                                                                   for line in lines)
    for patch in compat.PATCHES:
        assert any(line.split()[:1] == [patch.name] for line in lines), patch.name


@pytest.mark.parametrize("backend, gpu, expected, because", [
    ("tensorflow", (9, 0), "mixed_bfloat16", "compute capability 9.0: bfloat16 tensor cores"),
    ("jax", (7, 5), "float32", "compute capability 7.5, below 8.0"),
])
def test_the_precision_auto_picks_comes_with_its_reason(backend, gpu, expected, because, monkeypatch):
    from zoo.distribute import precision

    monkeypatch.setattr(precision, "gpu_compute_capability", lambda backend=None: gpu)
    chosen, reason = precision.auto_precision(backend)
    assert chosen == expected == precision.resolve_precision("auto", backend) and because in reason
