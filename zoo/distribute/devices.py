"""Device placement: the devices one training run uses (:class:`Placement`), found for
``--distribute`` on the current backend and machine (:func:`placement`)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Callable

import keras

from zoo.compat.keras_distribute import (EvenDataParallel, clip_after_all_reduce, multi_worker_ready,
                                         strategy_compile_options)
from zoo.distribute.slices import BatchSlices, tf_distributed_dataset
from zoo.errors import ZooError
from zoo.recipe import DISTRIBUTE_MODES

DISTRIBUTED_BACKENDS = ("jax", "tensorflow")


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
        """The placement as ``config.json`` records it."""
        if self.device_kind is None:
            self.device_kind = _device_kind(keras.backend.backend())
        return {"distribute": self.mode, "devices": self.devices, "workers": self.workers,
                "device_kind": self.device_kind}

    def compile_options(self) -> dict:
        """``Model.compile`` options this placement needs (under a TensorFlow strategy:
        :func:`~zoo.compat.keras_distribute.strategy_compile_options`)."""
        if self.mode != "none" and keras.backend.backend() == "tensorflow":
            return strategy_compile_options()
        return {}

    def prepare(self, model: keras.Model) -> keras.Model:
        """`model`, made ready to train on this placement (under a TensorFlow strategy:
        :func:`~zoo.compat.keras_distribute.clip_after_all_reduce`; with several workers,
        :func:`~zoo.compat.keras_distribute.multi_worker_ready`)."""
        if self.strategy is not None:
            clip_after_all_reduce(model.optimizer)
            if self.workers > 1:
                multi_worker_ready(model, self.strategy)
        return model

    def training_data(self, dataset):
        """What ``fit`` trains on: every global batch of `dataset` split across the replicas,
        this process feeding its own replicas' rows (:class:`BatchSlices`)."""
        if self.strategy is not None:
            return tf_distributed_dataset(dataset, self.strategy)
        if self.workers > 1:  # jax, one process per host: each feeds its host's devices
            return BatchSlices(dataset, parts=self.workers, first=self.worker, count=1, uneven="whole")
        return dataset


def placement(mode: str = "none") -> Placement:
    """The Placement for ``--distribute mode`` on the current backend and machine."""
    if mode not in DISTRIBUTE_MODES:
        raise ZooError(f"--distribute {mode}: expected one of {', '.join(DISTRIBUTE_MODES)}")
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
