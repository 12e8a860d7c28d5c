"""Workarounds for Keras internals that data-parallel training runs into, each read against
Keras 3.15.1 (in :mod:`zoo.compat` as ``tf_one_step_per_call``, ``jax_even_batches``,
``tf_global_steps_per_epoch``, ``tf_clip_after_all_reduce``, ``tf_multi_worker``).

A patch replaces a private Keras function only after checking that the function is still
there and called as it was read (:func:`jax_data_input_module`, :func:`tf_optimizer_as_read`,
:func:`tf_trainer_as_read`) and, where that is cheap, that it still does what the patch
assumes: a small numeric probe on first use (:func:`jax_data_input_module` places a batch
through the patched function; :func:`clip_after_all_reduce` clips a gradient through the
optimizer's own clipping). Where a check fails, the patch is left out and Keras behaves as it
does unpatched (an uneven JAX batch or a multi-worker TensorFlow run then fails inside
Keras), until the new Keras is read; :func:`state` says which happened. Each is applied by
the data-parallel training code that needs it (``zoo.distribute``), never on import.
"""

from __future__ import annotations

import contextlib
import inspect

import keras

from zoo.errors import ZooError

# The patches' names in zoo.compat.
TF_ONE_STEP_PER_CALL = "tf_one_step_per_call"
JAX_EVEN_BATCHES = "jax_even_batches"
TF_GLOBAL_STEPS = "tf_global_steps_per_epoch"
TF_CLIP_AFTER_ALL_REDUCE = "tf_clip_after_all_reduce"
TF_MULTI_WORKER = "tf_multi_worker"

# patch -> "" once applied in this process, or why it was last left out where a run needed it.
_outcomes: dict[str, str] = {}
_probes: dict[str, str] = {}  # patch -> its probe's verdict, once a process: "" (passed) or what failed


def _probed(name: str, probe) -> str:
    """`probe()`'s verdict for patch `name`, run on first use only; a probe that raises fails."""
    if name not in _probes:
        try:
            _probes[name] = probe()
        except Exception as error:  # the internal is there and takes the call, but no longer works so
            _probes[name] = f"its probe failed: {type(error).__name__}: {error}"
    return _probes[name]


def _accepts(function, *args, **kwargs) -> bool:
    """Whether `function` takes these arguments: the call Keras makes to the internal it names."""
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):  # not a function (gone from Keras), or called differently
        return False
    return True


# ---------------------------------------------------------------------- tensorflow, one step per call
def strategy_compile_options() -> dict:
    """``Model.compile`` options for a model trained under a TensorFlow strategy: one step per
    call. Keras 3.15's multi-step training function (``steps_per_execution`` > 1) fails under a
    strategy ("You must feed a value for placeholder tensor"; seen with 3.15.1). The option is
    public and valid on any Keras, so it is not guarded: only running it tells whether a later
    Keras fixed the multi-step function."""
    _outcomes[TF_ONE_STEP_PER_CALL] = ""
    return {"steps_per_execution": 1}


# ---------------------------------------------------------------------- jax, uneven batches
def jax_data_input_module():
    """Keras's ``keras.src.backend.jax.distribution_lib``, whose ``distribute_data_input`` the
    JAX trainer looks up for every batch and calls as ``(batch, layout, batch_dim_name=...)``
    with a ``NamedSharding`` layout (Keras 3.15.1, ``backend/jax/trainer.py``,
    ``_distribute_data``), and which, wrapped by :class:`EvenDataParallel`, places a batch of
    this process's devices, even or not, as it is (the probe, once a process); None where
    either is no longer so, and :class:`EvenDataParallel` leaves it unwrapped."""
    return None if _jax_even_batches_unusable() else _jax_distribution_lib()


def _jax_distribution_lib():
    try:
        from keras.src.backend.jax import distribution_lib, trainer
    except ImportError:
        return None
    looked_up = getattr(trainer, "jax_distribution_lib", None) is distribution_lib  # so a replacement is seen
    if looked_up and _accepts(getattr(distribution_lib, "distribute_data_input", None), None, None,
                              batch_dim_name=None):
        return distribution_lib
    return None


def _jax_even_batches_unusable() -> str:
    distribution_lib = _jax_distribution_lib()
    if distribution_lib is None:
        return ("Keras's JAX trainer no longer calls distribution_lib.distribute_data_input(batch, layout, "
                "batch_dim_name=...)")
    return _probed(JAX_EVEN_BATCHES, lambda: _probe_even_batches(distribution_lib))


def _probe_even_batches(distribution_lib) -> str:
    """"" where the wrapped ``distribute_data_input`` places a batch that divides by this
    process's devices, and (with several devices) one that does not, with its values intact,
    given the layout Keras's data-parallel trainer passes; otherwise what differed. In one
    process only: with several, a placed batch is a global array no process can read whole,
    and the names are all that is checked."""
    import jax
    import numpy as np

    if jax.process_count() > 1:
        return ""
    devices = jax.devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    for rows in sorted({2 * len(devices), 2 * len(devices) + 1}):  # the second divides only on one device
        batch = np.arange(rows * 3, dtype="float32").reshape(rows, 3)
        layout = distribution.get_data_layout(batch.shape).backend_layout
        if not isinstance(layout, jax.sharding.NamedSharding):
            return f"the data layout is a {type(layout).__name__}, not the NamedSharding the wrapper reads"
        with _replicating_uneven_batches(distribution_lib):
            placed = distribution_lib.distribute_data_input(batch, layout, batch_dim_name=distribution.batch_dim_name)
        if placed.shape != batch.shape or not np.array_equal(np.asarray(placed), batch):
            return f"a batch of {rows} rows on {len(devices)} devices was not placed as it is"
    return ""


class EvenDataParallel(keras.distribution.DataParallel):
    """Keras's DataParallel, except that a batch the devices cannot share evenly (the last,
    partial batch of an epoch or of an evaluation) goes whole to every device instead of
    failing: each device computes the same step on it, which is the one-device result.

    Keras 3.15's JAX trainer takes one data layout per epoch from the first batch and hands
    each batch to ``distribution_lib.distribute_data_input``, whose
    ``jax.make_array_from_process_local_data`` rejects a batch that does not divide by the
    devices; inside :meth:`scope` that function is wrapped to replicate such a batch. Where
    Keras no longer calls it as read, or the wrapped function fails its probe
    (:func:`jax_data_input_module`), the wrapper is left out and an uneven batch fails as it
    does in Keras.
    """

    @contextlib.contextmanager
    def scope(self):
        module = jax_data_input_module()
        _outcomes[JAX_EVEN_BATCHES] = "" if module else _jax_even_batches_unusable()
        with super().scope(), (_replicating_uneven_batches(module) if module else contextlib.nullcontext()):
            yield


@contextlib.contextmanager
def _replicating_uneven_batches(distribution_lib):
    """`distribution_lib.distribute_data_input` replaced inside the block by one that gives a
    batch this process's devices cannot share evenly whole to each of them."""
    import jax

    keras_input = distribution_lib.distribute_data_input

    def distribute_data_input(per_process_batch, layout, batch_dim_name):  # called for every batch
        shards = layout.mesh.shape[batch_dim_name] if isinstance(layout, jax.sharding.NamedSharding) else 1
        local_shards = max(1, shards // jax.process_count())
        rows = per_process_batch.shape[0] if per_process_batch.shape else 0
        if rows % local_shards:
            if jax.process_count() > 1:
                raise ZooError(f"a batch of {rows} rows per process cannot be split across this process's "
                               f"{local_shards} devices; choose a --batch-size and --limit that divide evenly")
            replicated = jax.sharding.NamedSharding(layout.mesh, jax.sharding.PartitionSpec())
            return jax.device_put(per_process_batch, replicated)
        return keras_input(per_process_batch, layout, batch_dim_name)

    distribution_lib.distribute_data_input = distribute_data_input
    try:
        yield
    finally:
        distribution_lib.distribute_data_input = keras_input


# ---------------------------------------------------------------------- tensorflow, steps per epoch
def steps_are_global_batches(distributed, strategy, batches: int):
    """`distributed` (from ``distribute_datasets_from_function``), whose cardinality Keras
    reads as the steps of an epoch, made to count its `batches` global batches.

    TensorFlow (seen with 2.21) gives it one pipeline's cardinality: its local replicas'
    slices, two per step with two local replicas. Keras then asked for a step past the end of
    every epoch, and that failed step still advanced the optimizer's step count, so a
    learning-rate schedule drifted one step an epoch from the one-device run (2% apart in loss
    after three epochs of a one-cycle ``seq2seq_addition``). Left as it is where the private
    ``_cardinality`` is not the one-pipeline count this was read against (a check of its
    value on every run: no probe before one).
    """
    local_replicas = len(strategy.extended.worker_devices)
    if local_replicas <= 1:
        return distributed
    found = getattr(distributed, "_cardinality", None)
    if found == batches * local_replicas:
        distributed._cardinality = batches
        _outcomes[TF_GLOBAL_STEPS] = ""
    else:
        _outcomes[TF_GLOBAL_STEPS] = (f"the distributed dataset's _cardinality is {found!r}, not the one-pipeline "
                                      f"count {batches * local_replicas} it was read as")
    return distributed


# ---------------------------------------------------------------------- tensorflow, gradient clipping
def tf_optimizer_as_read(optimizer) -> bool:
    """Whether `optimizer` still clips and all-reduces as read in Keras 3.15.1
    (``optimizers/base_optimizer.py``, ``backend/tensorflow/optimizer.py``):
    ``_clip_gradients(grads)`` on each replica's gradients, then ``_backend_update_step``,
    which sums them across replicas with ``_all_reduce_sum_gradients(grads_and_vars)``."""
    return _accepts(getattr(optimizer, "_clip_gradients", None), [None]) and _accepts(
        getattr(optimizer, "_all_reduce_sum_gradients", None), [])


def _clip_unusable(optimizer) -> str:
    if not tf_optimizer_as_read(optimizer):
        return ("Keras's optimizer no longer has _clip_gradients(grads) and "
                "_all_reduce_sum_gradients(grads_and_vars)")
    return _probe_clipping(optimizer)


def _probe_clipping(optimizer) -> str:
    """"" where `optimizer`'s own ``_clip_gradients`` clips a gradient list it is given by its
    bound (``clipnorm``, ``global_clipnorm`` or ``clipvalue``), as the patch assumes when it
    hands it the summed gradient. No variable is made: it runs inside a strategy's scope too."""
    import numpy as np
    import tensorflow as tf

    clip = next(name for name in ("clipnorm", "global_clipnorm", "clipvalue") if getattr(optimizer, name, None))
    bound = float(getattr(optimizer, clip))
    gradient = np.array([6.0, 8.0], "float32") * bound  # norm 10 x bound, each value above it
    expected = [bound, bound] if clip == "clipvalue" else [0.6 * bound, 0.8 * bound]
    try:
        clipped = optimizer._clip_gradients([tf.constant(gradient)])
        got = np.asarray(clipped[0], "float32")
    except Exception as error:
        return f"its probe failed: {type(error).__name__}: {error}"
    if got.shape != (2,) or not np.allclose(got, expected, rtol=1e-5, atol=1e-6 * bound):
        return f"its probe clipped {gradient.tolist()} to {got.tolist()}, not {expected}"
    return ""


def clip_after_all_reduce(optimizer) -> None:
    """Make `optimizer` clip the batch's gradient, not each replica's share of it.

    Keras 3.15's TensorFlow optimizer clips (``clipnorm``, ``global_clipnorm``,
    ``clipvalue``) before it sums the replicas' gradients (seen with 3.15.1). Each replica's
    gradient is that of its rows' loss divided by the number of replicas, so a clip bound
    meant for the batch bites at a different gradient, and a data-parallel run leaves the
    one-device run (a small net with a clip that bites, mirrored on two CPUs: weights 0.07
    apart after two epochs, within 1e-6 with this change). tf.keras
    2 refused clipping under a strategy for this reason (tensorflow/tensorflow #33929). Here
    the sum moves before the clip, and the update step, which would sum again, takes the sum
    as it is. Left out where the optimizer is no longer as read (:func:`tf_optimizer_as_read`)
    or its clipping fails the probe (:func:`_probe_clipping`): a clipped recipe then trains
    data-parallel as Keras clips it.
    """
    clips = any(getattr(optimizer, name, None) for name in ("clipnorm", "global_clipnorm", "clipvalue"))
    if not clips:
        return
    _outcomes[TF_CLIP_AFTER_ALL_REDUCE] = unusable = _clip_unusable(optimizer)
    if unusable:
        return
    import tensorflow as tf

    keras_clip = optimizer._clip_gradients

    def clip_gradients(grads):
        context = tf.distribute.get_replica_context()
        present = [g for g in grads if g is not None]
        if context is not None and context.num_replicas_in_sync > 1 and present:
            summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present))
            grads = [None if g is None else next(summed) for g in grads]
        return keras_clip(grads)

    optimizer._clip_gradients = clip_gradients
    optimizer._all_reduce_sum_gradients = list  # already summed by clip_gradients


# ---------------------------------------------------------------------- tensorflow, several workers
def tf_trainer_as_read(model: keras.Model) -> bool:
    """Whether Keras's TensorFlow trainer still has, called as read in Keras 3.15.1
    (``backend/tensorflow/trainer.py``), the internals :func:`multi_worker_ready` works around:
    `model`'s ``_maybe_symbolic_build(iterator=..., data_batch=...)`` and
    ``_symbolic_build(data_batch=...)``, and ``reduce_per_replica(values, strategy,
    reduction=...)``, which reduces each step's metrics."""
    try:
        from keras.src.backend.tensorflow import trainer
    except ImportError:
        return False
    return (_accepts(getattr(model, "_maybe_symbolic_build", None), iterator=None, data_batch=None)
            and _accepts(getattr(model, "_symbolic_build", None), data_batch=None)
            and _accepts(getattr(trainer, "reduce_per_replica", None), None, None, reduction="auto"))


def multi_worker_ready(model: keras.Model, strategy) -> None:
    """Work around Keras 3.15's TensorFlow trainer under ``MultiWorkerMirroredStrategy``
    (keras-team/keras #20585, seen with 3.15.1), on `model` only:

    - before training it averages a first batch across all replicas only to learn its
      shapes, which fails ("Attempt to convert a value (PerReplica...)"): build from this
      worker's first replica's batch instead, the same shapes with no collective;
    - it averages each step's metrics across workers along axis 0 (``reduce_per_replica``),
      which scalars do not have ("Invalid reduction dimension 0"): give each replica's
      metrics that axis.

    Left out where Keras's trainer is no longer as read (:func:`tf_trainer_as_read`); there
    is no cheap probe of its behaviour: the failure needs several workers.
    """
    _outcomes[TF_MULTI_WORKER] = unusable = _multi_worker_unusable(model)
    if unusable:
        return
    import tensorflow as tf

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                first = next(batches)
                data_batch = keras.tree.map_structure(lambda v: strategy.experimental_local_results(v)[0], first)
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    keras_metrics = model.compute_metrics

    def compute_metrics(*args, **kwargs):
        return keras.tree.map_structure(lambda v: tf.reshape(v, [1]), keras_metrics(*args, **kwargs))

    model._maybe_symbolic_build = maybe_symbolic_build
    model.compute_metrics = compute_metrics


def _multi_worker_unusable(model: keras.Model) -> str:
    if tf_trainer_as_read(model):
        return ""
    return ("Keras's TensorFlow trainer no longer has _maybe_symbolic_build(iterator, data_batch), "
            "_symbolic_build(data_batch) and reduce_per_replica(values, strategy, reduction)")


# ---------------------------------------------------------------------- what zoo.compat reports
_CHECKS = {  # patch -> its checks where no run has needed it yet: "" (pass) or why not
    TF_ONE_STEP_PER_CALL: lambda: "",
    JAX_EVEN_BATCHES: _jax_even_batches_unusable,
    TF_GLOBAL_STEPS: lambda: "",  # its check reads a run's distributed dataset
    TF_CLIP_AFTER_ALL_REDUCE: lambda: _clip_unusable(keras.optimizers.SGD(clipnorm=1.0)),
    TF_MULTI_WORKER: lambda: _multi_worker_unusable(keras.Sequential([keras.layers.Dense(1)])),
}
_READY = {  # why a patch that no run has needed yet is not active, where its checks pass
    TF_ONE_STEP_PER_CALL: "a public compile option, not guarded; passed to each data-parallel run's model",
    JAX_EVEN_BATCHES: "its checks pass; wraps each data-parallel run's distribution scope",
    TF_GLOBAL_STEPS: "checked on each data-parallel run's dataset (its _cardinality) and applied where it has "
                     "two or more local replicas",
    TF_CLIP_AFTER_ALL_REDUCE: "its checks pass; applied to each data-parallel run with gradient clipping",
    TF_MULTI_WORKER: "its Keras internals are as read (no cheap probe: the failure needs several workers); "
                     "applied to each run with several TensorFlow workers",
}


def state(name: str) -> tuple[str, str]:
    """Patch `name`'s state in this process: ("active", "") once a run applied it; ("off", why)
    where a run left it out or its checks fail now (they run here if no run needed it yet);
    otherwise ("ready", what applies it)."""
    if name in _outcomes:
        return ("active", "") if not _outcomes[name] else ("off", _outcomes[name])
    unusable = _CHECKS[name]()
    return ("off", unusable) if unusable else ("ready", _READY[name])
