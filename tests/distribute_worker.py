"""Run ``zoo ARGS...`` in a subprocess set up as a data-parallel test needs, and record how
the training batches were split across devices.

``python distribute_worker.py OBSERVATIONS.json ARGS...``. With ``ZOO_TEST_LOGICAL_CPUS=n``
TensorFlow's CPU is first split into n logical devices (jax's virtual devices come from
``XLA_FLAGS=--xla_force_host_platform_device_count=n``). OBSERVATIONS.json receives the
zoo's exit status and ``splits``: for each batch fed to the devices, the rows each device got
(jax: the shards of the global array; tensorflow: the replica slices of the input pipeline).
With ``ZOO_TEST_KILL_AT_EPOCH=k`` the process kills itself (SIGKILL) as epoch k begins.
"""

import json
import os
import sys


def main(observations_path: str, args: list[str]) -> int:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if os.environ.get("ZOO_TEST_LOGICAL_CPUS") and backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        count = int(os.environ["ZOO_TEST_LOGICAL_CPUS"])
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    import keras

    from zoo import distribute
    from zoo.cli import main as zoo

    splits, rows_by_batch = [], {}  # rows_by_batch (tensorflow): (epoch, batch index) -> {slice offset: rows}
    if backend == "jax":
        from keras.src.backend.jax import distribution_lib

        keras_input = distribution_lib.distribute_data_input

        def recording_input(batch, layout, batch_dim_name):
            array = keras_input(batch, layout, batch_dim_name)
            splits.append([shard.data.shape[0] for shard in array.addressable_shards])
            return array

        distribution_lib.distribute_data_input = recording_input
    elif backend == "tensorflow":
        slices = distribute.BatchSlices.__getitem__

        def recording_slice(self, index):
            batch = slices(self, index)
            # Keyed, not appended in call order: Keras peeks at the first element through an
            # iterator it drops, whose prefetch thread reads slices beside training's.
            batch_index, offset = divmod(index, self.count)
            rows_by_batch.setdefault((self.dataset.epoch, batch_index), {})[offset] = len(keras.tree.flatten(batch)[0])
            return batch

        distribute.BatchSlices.__getitem__ = recording_slice
    if os.environ.get("ZOO_TEST_KILL_AT_EPOCH"):  # a crash at the start of that epoch
        import signal

        from zoo import training

        class Kill(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == int(os.environ["ZOO_TEST_KILL_AT_EPOCH"]):
                    os.kill(os.getpid(), signal.SIGKILL)

        standard_callbacks = training.standard_callbacks
        training.standard_callbacks = lambda *a, **k: [*standard_callbacks(*a, **k), Kill()]
    status = zoo(args)
    splits += [[rows[offset] for offset in sorted(rows)] for rows in rows_by_batch.values()]
    with open(observations_path, "w") as out:
        json.dump({"status": status, "splits": splits}, out)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
