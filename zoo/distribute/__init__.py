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
own slice of every global batch (:class:`BatchSlices`); worker 0, the chief, publishes the
run folder, the others keep only their own resume backups.

``--precision mixed_float16|mixed_bfloat16`` sets Keras's dtype policy while the model is
built: layers compute in 16 bits and keep float32 weights, the logits layer computes in
float32 (``zoo.layers.logits``), so the losses are float32. The published model is rebuilt in
float32 from the trained weights, so evaluation and exports are float32 whatever the
precision of training.

Modules: ``devices`` finds the devices and builds the :class:`Placement`; ``slices`` cuts
each global batch into the rows every process feeds; ``precision`` sets the dtype policy. The
patches to Keras internals that data-parallel training needs are in
:mod:`zoo.compat.keras_distribute`, applied from here.
"""

from zoo.distribute.devices import Placement, placement
from zoo.distribute.precision import check_precision, precision_policy, resolve_precision
from zoo.distribute.slices import BatchSlices

__all__ = ["BatchSlices", "Placement", "check_precision", "placement", "precision_policy", "resolve_precision"]
