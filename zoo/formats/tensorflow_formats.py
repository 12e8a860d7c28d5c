"""The TensorFlow-side formats: ``.keras`` (Keras itself) and SavedModel, and the serving
function the LiteRT and OpenVINO writers convert (named inputs, outputs in manifest order)."""

from __future__ import annotations


def serving_function(named, *, batch=None, outputs_as="dict"):
    """A ``tf.function`` of NamedModel `named` with its named input signature (batch dimension
    `batch`, None for any); it returns the outputs by name (`outputs_as` "dict") or as a tuple
    in manifest order ("tuple", for converters that drop a dict's names)."""
    import tensorflow as tf

    model = named.model
    specs = [tf.TensorSpec((batch, *tensor.shape[1:]), tensor.dtype, name=name)
             for name, tensor in zip(named.input_names, model.inputs)]

    @tf.function(input_signature=specs)
    def serve(*args):
        result = model(list(args) if len(args) > 1 else args[0], training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        if outputs_as == "tuple":
            return tuple(tf.identity(tensor) for tensor in result)
        return dict(zip(named.output_names, result))

    return serve


def write_keras(named, path) -> None:
    named.model.save(path)


def load_keras(path, spec):
    import keras

    from zoo.models.recurrent_state import NamedModel
    from zoo.registry import load_families

    load_families()  # the families' own layers, registered with Keras
    named = NamedModel(keras.saving.load_model(path, safe_mode=True), [o["name"] for o in spec["outputs"]])
    names_ = [i["name"] for i in spec["inputs"]]
    return lambda arrays: [out for out in named.run(dict(zip(names_, arrays))).values()]


def write_savedmodel(named, path) -> None:
    """A SavedModel whose serving signature has named inputs and outputs, dynamic batch."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(named.model)
    serve = serving_function(named)
    archive.add_endpoint("serve", serve.python_function, input_signature=serve.input_signature)
    archive.write_out(str(path), verbose=False)


def load_savedmodel(path, spec):
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    inputs = [i["name"] for i in spec["inputs"]]
    outputs = [o["name"] for o in spec["outputs"]]

    def run(arrays):
        result = signature(**{n: tf.constant(a) for n, a in zip(inputs, arrays)})
        return [result[o].numpy() for o in outputs]

    return run
