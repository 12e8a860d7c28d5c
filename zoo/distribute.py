"""Where training runs: one device, or data-parallel over Keras's and TensorFlow's own engines;
and in which precision.

``zoo train --distribute data-parallel`` keeps the recipe's global batch, learning rate and
run folder, and splits every batch across the devices:

- jax: ``keras.distribution.DataParallel`` over all local devices, and over all processes
  when JAX's multi-process environment is set (``keras.distribution.initialize()`` reads it).
- tensorflow: ``tf.distribute.MirroredStrategy`` over the local GPUs (or the logical CPUs
  where there is no GPU), and ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names
  several workers.
- torch: Keras 3 has no distribution API for torch: a one-line error names the backends
  that have one.

With several workers (processes), each one builds the same seeded batches and trains on its
own slice of every global batch (:class:`WorkerSlice`); worker 0, the chief, publishes the
run folder, the others keep only their own resume backups.

``--precision mixed_float16|mixed_bfloat16`` sets Keras's dtype policy while the model is
built: layers compute in 16 bits and keep float32 weights, the logits layer computes in
float32 (``zoo.layers.logits``), so the losses are float32. The published model is rebuilt in
float32 from the trained weights, so evaluation and exports are float32 whatever the
precision of training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Callable

import keras

from zoo.errors import ZooError
from zoo.tasks.datasets import EpochDataset

MODES = ("none", "data-parallel")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTED_BACKENDS = ("jax", "tensorflow")
CHECKED_KERAS = ("3.15.",)  # the private Keras functions worked around below, as read for this module


@dataclasses.dataclass
class Placement:
    """The devices one training run uses, as this process sees them."""

    mode: str = "none"
    devices: int = 1  # replicas a global batch is split across, all workers together
    workers: int = 1  # processes training together
    worker: int = 0  # this process's index; 0 is the chief
    device_kind: str | None = None  # "cpu", "gpu", ...; looked up when first needed (it starts TensorFlow's runtime)
    # Where the model is built (its variables placed), and where it trains. TensorFlow's
    # strategy is needed only for building: the model keeps it, and the inference models
    # the task callbacks build during training then run on one device.
    build_scope: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    fit_scope: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    strategy: object = None  # TensorFlow's tf.distribute strategy

    @property
    def is_chief(self) -> bool:
        return self.worker == 0

    def finish(self) -> None:
        """Wait until every process has finished, the chief's publishing included: a JAX
        process that exits first would wait for the others at shutdown only a few minutes."""
        if self.workers > 1 and keras.backend.backend() == "jax":
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("zoo train: run folder published")

    def to_config(self) -> dict:
        if self.device_kind is None:
            self.device_kind = _device_kind(keras.backend.backend())
        return {"distribute": self.mode, "devices": self.devices, "workers": self.workers,
                "device_kind": self.device_kind}

    def compile_options(self) -> dict:
        """``Model.compile`` options this placement needs: under a TensorFlow strategy, Keras
        3.15's multi-step training function fails ("You must feed a value for placeholder
        tensor"), so one step runs per call."""
        if self.mode != "none" and keras.backend.backend() == "tensorflow":
            return {"steps_per_execution": 1}
        return {}

    def prepare(self, model: keras.Model) -> keras.Model:
        """`model`, made ready to train on this placement (see :func:`_multi_worker_ready`)."""
        if self.strategy is not None and self.workers > 1 and keras.__version__.startswith(CHECKED_KERAS):
            _multi_worker_ready(model, self.strategy)
        return model

    def training_data(self, dataset):
        """What ``fit`` trains on: every global batch of `dataset` split across the replicas,
        this process feeding its own replicas' rows (:class:`BatchSlices`)."""
        if self.strategy is not None:
            return _tf_distributed(dataset, self.strategy)
        if self.workers > 1:  # jax, one process per host: each feeds its host's devices
            return BatchSlices(dataset, parts=self.workers, first=self.worker, count=1, uneven="whole")
        return dataset


def placement(mode: str = "none") -> Placement:
    """The Placement for ``--distribute mode`` on the current backend and machine."""
    if mode not in MODES:
        raise ZooError(f"--distribute {mode}: expected one of {', '.join(MODES)}")
    backend = keras.backend.backend()
    if mode == "none":
        return Placement()
    if backend not in DISTRIBUTED_BACKENDS:
        raise ZooError(f"--distribute {mode}: the {backend} backend of Keras 3 has no distribution API; "
                       f"use --backend {' or --backend '.join(DISTRIBUTED_BACKENDS)}")
    return _jax_placement() if backend == "jax" else _tensorflow_placement()


def _device_kind(backend: str) -> str:
    if backend == "jax":
        import jax

        return jax.devices()[0].platform
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------------- jax
JAX_MULTI_PROCESS_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "JAX_COORDINATOR_ADDRESS")


def _jax_placement() -> Placement:
    import jax

    if any(os.environ.get(name) for name in JAX_MULTI_PROCESS_ENV) and not jax.distributed.is_initialized():
        keras.distribution.initialize()  # reads the job addresses, process count and id
    devices = jax.devices()
    distribution = EvenDataParallel(devices=devices)
    # Each process feeds its own slice of every batch (Placement.training_data), and the
    # same evaluation arrays: Keras must not shard them again.
    distribution.auto_shard_dataset = False
    return Placement("data-parallel", devices=len(devices), workers=jax.process_count(),
                     worker=jax.process_index(), device_kind=devices[0].platform, build_scope=distribution.scope,
                     fit_scope=distribution.scope)


class EvenDataParallel(keras.distribution.DataParallel):
    """Keras's DataParallel, except that a batch the devices cannot share evenly (the last,
    partial batch of an epoch or of an evaluation) goes whole to every device instead of
    failing: each device computes the same step on it, which is the one-device result.

    Keras's JAX trainer takes one data layout per epoch from the first batch and hands each
    batch to ``keras.src.backend.jax.distribution_lib.distribute_data_input``; inside
    :meth:`scope` that function is wrapped to replicate uneven batches. Checked against
    the Keras versions in ``CHECKED_KERAS``; on others the wrapper is left out and an
    uneven batch fails as it does in Keras.
    """

    @contextlib.contextmanager
    def scope(self):
        import jax
        from keras.src.backend.jax import distribution_lib

        keras_input = distribution_lib.distribute_data_input
        patch = keras.__version__.startswith(CHECKED_KERAS)

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

        with super().scope():
            if patch:
                distribution_lib.distribute_data_input = distribute_data_input
            try:
                yield
            finally:
                distribution_lib.distribute_data_input = keras_input


# ---------------------------------------------------------------------- tensorflow
def _tensorflow_placement() -> Placement:
    import tensorflow as tf

    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    if workers > 1:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id
        # A chief named in TF_CONFIG is worker 0 and the workers follow it; without one, worker 0 is the chief.
        index = 0 if task[0] == "chief" else task[1] + len(cluster.get("chief", []))
        kind = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
        return Placement("data-parallel", devices=strategy.num_replicas_in_sync, workers=workers, worker=index,
                         device_kind=kind, build_scope=strategy.scope, strategy=strategy)
    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus or tf.config.list_logical_devices("CPU")
    strategy = tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    return Placement("data-parallel", devices=strategy.num_replicas_in_sync, device_kind="gpu" if gpus else "cpu",
                     build_scope=strategy.scope, strategy=strategy)


def _multi_worker_ready(model: keras.Model, strategy) -> None:
    """Work around Keras 3.15's TensorFlow trainer under ``MultiWorkerMirroredStrategy``
    (keras-team/keras #20585), on `model` only:

    - before training it averages a first batch across all replicas only to learn its
      shapes, which fails ("Attempt to convert a value (PerReplica...)"): build from this
      worker's first replica's batch instead, the same shapes with no collective;
    - it averages each step's metrics across workers along axis 0, which scalars do not
      have ("Invalid reduction dimension 0"): give each replica's metrics that axis.
    """
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


def _tf_distributed(dataset, strategy):
    """`dataset` as a distributed ``tf.data`` input: this worker's pipeline yields, for each
    global batch in order, the slices of its local replicas, which take them in turn.
    Auto-sharding is off: TensorFlow's fallback for such a pipeline (each worker takes every
    n-th batch) would change the global batch."""
    import tensorflow as tf

    def pipeline(context):
        local = context.num_replicas_in_sync // context.num_input_pipelines
        slices = BatchSlices(dataset, parts=context.num_replicas_in_sync, first=context.input_pipeline_id * local,
                             count=local)

        def batches():
            for index in range(len(slices)):  # read when each epoch's iteration starts
                yield slices[index]

        def spec(array):
            return tf.TensorSpec((None, *array.shape[1:]), tf.as_dtype(array.dtype))

        signature = keras.tree.map_structure(spec, dataset[0])
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        data = tf.data.Dataset.from_generator(batches, output_signature=signature)
        data = data.apply(tf.data.experimental.assert_cardinality(len(slices)))  # Keras counts the steps
        return data.prefetch(tf.data.AUTOTUNE).with_options(options)

    return strategy.distribute_datasets_from_function(pipeline)


# ---------------------------------------------------------------------- batch slices
class BatchSlices(EpochDataset):
    """Slices `first` .. `first + count - 1` of every batch of `dataset` cut into `parts`
    contiguous parts, one slice per item: the rows one process feeds to its devices, so that
    all processes together train on exactly the one-process batches.

    A batch whose rows do not divide by `parts` (the last of an epoch) is cut into
    near-equal parts (``uneven="split"``, TensorFlow's strategies take those), or given
    whole to every part (``uneven="whole"``: JAX needs equal parts; the copies' mean loss
    and gradient are the batch's own)."""

    def __init__(self, dataset: EpochDataset, *, parts: int, first: int, count: int, uneven: str = "split"):
        super().__init__(dataset.seed)
        self.dataset, self.parts, self.first, self.count, self.uneven = dataset, parts, first, count, uneven
        self._batch = (None, None)  # (epoch and index, batch): a batch is built once for its `count` slices

    def start_epoch(self, epoch):
        super().start_epoch(epoch)
        self.dataset.start_epoch(epoch)

    def __len__(self):
        return len(self.dataset) * self.count

    def __getitem__(self, index):
        batch_index, offset = divmod(index, self.count)
        key = (self.dataset.epoch, batch_index)  # the inner dataset's epoch: DataEpoch sets that one
        if self._batch[0] != key:
            self._batch = (key, self.dataset[batch_index])
        batch = self._batch[1]
        rows = len(keras.tree.flatten(batch)[0])
        if rows % self.parts and self.uneven == "whole":
            return batch
        if rows < self.parts:
            raise ZooError(f"batch {batch_index} has {rows} rows, fewer than the {self.parts} devices it is "
                           f"split across; raise --batch-size or --limit")
        part = self.first + offset
        start, stop = (rows * part) // self.parts, (rows * (part + 1)) // self.parts
        return keras.tree.map_structure(lambda a: a[start:stop], batch)


# ---------------------------------------------------------------------- precision
@contextlib.contextmanager
def precision_policy(precision: str):
    """Keras's global dtype policy set to `precision` inside the block, restored after it."""
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ZooError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
