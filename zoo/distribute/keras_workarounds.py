"""Workarounds for Keras internals that data-parallel training runs into, each read against
Keras 3.15.1.

A patch replaces a private Keras function only after checking that the function is still
there and called as it was read (:func:`jax_data_input_module`, :func:`tf_trainer_as_read`);
where it is not, the patch is left out and Keras behaves as it does unpatched (an uneven JAX
batch or a multi-worker TensorFlow run then fails inside Keras), until the new Keras is read.
"""

from __future__ import annotations

import contextlib
import inspect

import keras

from zoo.errors import ZooError


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
    return {"steps_per_execution": 1}


# ---------------------------------------------------------------------- jax, uneven batches
def jax_data_input_module():
    """Keras's ``keras.src.backend.jax.distribution_lib``, whose ``distribute_data_input`` the
    JAX trainer looks up for every batch and calls as ``(batch, layout, batch_dim_name=...)``
    (Keras 3.15.1, ``backend/jax/trainer.py``, ``_distribute_data``); None where Keras no
    longer does, and :class:`EvenDataParallel` cannot wrap it."""
    try:
        from keras.src.backend.jax import distribution_lib, trainer
    except ImportError:
        return None
    looked_up = getattr(trainer, "jax_distribution_lib", None) is distribution_lib  # so a replacement is seen
    if looked_up and _accepts(getattr(distribution_lib, "distribute_data_input", None), None, None,
                              batch_dim_name=None):
        return distribution_lib
    return None


class EvenDataParallel(keras.distribution.DataParallel):
    """Keras's DataParallel, except that a batch the devices cannot share evenly (the last,
    partial batch of an epoch or of an evaluation) goes whole to every device instead of
    failing: each device computes the same step on it, which is the one-device result.

    Keras 3.15's JAX trainer takes one data layout per epoch from the first batch and hands
    each batch to ``distribution_lib.distribute_data_input``, whose
    ``jax.make_array_from_process_local_data`` rejects a batch that does not divide by the
    devices; inside :meth:`scope` that function is wrapped to replicate such a batch. Where
    Keras no longer calls it as read (:func:`jax_data_input_module`), the wrapper is left out
    and an uneven batch fails as it does in Keras.
    """

    @contextlib.contextmanager
    def scope(self):
        module = jax_data_input_module()
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
    ``_cardinality`` is not the one-pipeline count this was read against.
    """
    local_replicas = len(strategy.extended.worker_devices)
    if local_replicas > 1 and getattr(distributed, "_cardinality", None) == batches * local_replicas:
        distributed._cardinality = batches
    return distributed


# ---------------------------------------------------------------------- tensorflow, gradient clipping
def tf_optimizer_as_read(optimizer) -> bool:
    """Whether `optimizer` still clips and all-reduces as read in Keras 3.15.1
    (``optimizers/base_optimizer.py``, ``backend/tensorflow/optimizer.py``):
    ``_clip_gradients(grads)`` on each replica's gradients, then ``_backend_update_step``,
    which sums them across replicas with ``_all_reduce_sum_gradients(grads_and_vars)``."""
    return _accepts(getattr(optimizer, "_clip_gradients", None), [None]) and _accepts(
        getattr(optimizer, "_all_reduce_sum_gradients", None), [])


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
    as it is. Left out where the optimizer is no longer as read (:func:`tf_optimizer_as_read`):
    a clipped recipe then trains data-parallel as Keras clips it.
    """
    clips = any(getattr(optimizer, name, None) for name in ("clipnorm", "global_clipnorm", "clipvalue"))
    if not clips or not tf_optimizer_as_read(optimizer):
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

    Left out where Keras's trainer is no longer as read (:func:`tf_trainer_as_read`).
    """
    if not tf_trainer_as_read(model):
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
