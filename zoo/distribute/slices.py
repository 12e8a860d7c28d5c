"""Data slicing for data-parallel training: the rows of every global batch that one process
feeds to its devices (:class:`BatchSlices`), and TensorFlow's distributed input built from
them (:func:`tf_distributed_dataset`)."""

from __future__ import annotations

import keras

from zoo.compat.keras_distribute import steps_are_global_batches
from zoo.errors import ZooError
from zoo.tasks.datasets import EpochDataset


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
        # (epoch and index, batch): a batch is built once for its `count` slices. The pair is
        # read once and replaced whole: TensorFlow's trainer peeks at one element through an
        # iterator it then drops, whose prefetch thread goes on reading beside training's.
        self._batch = (None, None)

    def start_epoch(self, epoch):
        super().start_epoch(epoch)
        self.dataset.start_epoch(epoch)

    def __len__(self):
        return len(self.dataset) * self.count

    def __getitem__(self, index):
        batch_index, offset = divmod(index, self.count)
        key = (self.dataset.epoch, batch_index)  # the inner dataset's epoch: DataEpoch sets that one
        cached_key, batch = self._batch
        if cached_key != key:
            batch = self.dataset[batch_index]
            self._batch = (key, batch)
        rows = len(keras.tree.flatten(batch)[0])
        if rows % self.parts and self.uneven == "whole":
            return batch
        if rows < self.parts:
            raise ZooError(f"batch {batch_index} has {rows} rows, fewer than the {self.parts} devices it is "
                           f"split across; raise --batch-size or --limit")
        part = self.first + offset
        start, stop = (rows * part) // self.parts, (rows * (part + 1)) // self.parts
        return keras.tree.map_structure(lambda a: a[start:stop], batch)


def tf_distributed_dataset(dataset: EpochDataset, strategy):
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
        data = data.apply(tf.data.experimental.assert_cardinality(len(slices)))
        return data.prefetch(tf.data.AUTOTUNE).with_options(options)

    return steps_are_global_batches(strategy.distribute_datasets_from_function(pipeline), strategy, len(dataset))
