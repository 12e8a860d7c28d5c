"""One LSTM layer, forward and backward, on every kernel each backend offers on this CPU.

    python benchmarks/rnn_kernels.py [--shapes fashion,char_lm,addition] [--repeats 5] [--calls 10]
    python benchmarks/rnn_kernels.py --levers [--shapes ...]   # the engines' CPU switches instead

Why the zoo's TensorFlow and JAX training stays behind plain PyTorch on a CPU: the time of
one LSTM layer's forward and backward pass (sum of squares of its outputs, gradients for
the weights), at the layer shapes of the three recipes' networks, through

* torch: ``nn.LSTM`` (oneDNN's fused RNN kernel, what plain PyTorch runs), the Keras layer
  on the zoo's fast path (the same kernel), and the Keras layer on Keras's own path
  (``ZOO_FUSED_RNN=0``, a Python loop over time steps);
* tensorflow: the Keras layer (a ``tf.while_loop`` of per-step matrix products),
  ``tf.raw_ops.BlockLSTMV2`` (TensorFlow's fused CPU LSTM op), and a loop with a hand-written
  gradient that does the input and weight products for all steps as single matrix products
  (what cuDNN and oneDNN do);
* jax: the Keras layer (``lax.scan`` over the cell), a scan with the input product of all
  steps done beforehand, and the same scan unrolled 4 steps at a time.

Each backend in a fresh process, one compiled function per kernel (``tf.function``,
``jax.jit``), median of ``--repeats`` timings of ``--calls`` calls; the table gives
milliseconds per call and the ratio to ``nn.LSTM``. Time it on an otherwise idle machine.

``--levers`` times the Keras layer on tensorflow and jax under each CPU switch of the
installed engines in :data:`LEVERS` (XLA's CPU flags, from jaxlib's own flag list; oneDNN on
or off for TensorFlow; XLA for TensorFlow's step; thread counts), each in a fresh process
with the switch set before the engine starts, next to the same layer with the defaults and
``nn.LSTM``, all in one run. A switch the engine refuses is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPES = {  # batch, time steps, input features, units: the recipes' first LSTM layers
    "fashion": (100, 28, 28, 128),
    "char_lm": (64, 100, 64, 512),
    "addition": (128, 7, 32, 256),
}


def weights(shape):
    batch, steps, features, units = shape
    rng = np.random.default_rng(0)
    return (rng.standard_normal((batch, steps, features)).astype("float32"),
            (rng.standard_normal((features, 4 * units)) * 0.1).astype("float32"),
            (rng.standard_normal((units, 4 * units)) * 0.1).astype("float32"),
            (rng.standard_normal(4 * units) * 0.1).astype("float32"))


def timed(call, repeats, calls, sync=lambda result: result) -> float:
    sync(call())  # compile and warm up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            result = call()
        sync(result)
        times.append((time.perf_counter() - started) / calls * 1e3)
    return statistics.median(times)


def keras_layer_step(shape):
    """A compiled forward+backward of a Keras LSTM layer on the current backend."""
    import keras

    x, kernel, recurrent_kernel, bias = weights(shape)
    layer = keras.layers.LSTM(shape[3], return_sequences=True)
    layer.build(x.shape)
    layer.set_weights([kernel, recurrent_kernel, bias])
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        xt = torch.as_tensor(x)

        def step():
            for variable in layer.trainable_variables:
                variable.value.grad = None
            (layer(xt) ** 2).sum().backward()
        return step, lambda r: r
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=os.environ.get("BENCH_TF_JIT_COMPILE") == "1")
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x) ** 2)
            return tape.gradient(loss, layer.trainable_variables)
        return step, lambda r: [v.numpy() for v in r]
    import jax

    values = [v.value for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]  # the dropout seed

    def loss(values):
        out, _ = layer.stateless_call(values, fixed, x)
        return (out ** 2).sum()
    grad = jax.jit(jax.grad(loss))
    return (lambda: grad(values)), jax.block_until_ready


# ---------------------------------------------------------------------- torch
def torch_kernels(shape, repeats, calls) -> dict:
    import torch

    x, kernel, recurrent_kernel, bias = weights(shape)
    lstm = torch.nn.LSTM(shape[2], shape[3], batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.as_tensor(kernel.T))
        lstm.weight_hh_l0.copy_(torch.as_tensor(recurrent_kernel.T))
        lstm.bias_ih_l0.copy_(torch.as_tensor(bias))
        lstm.bias_hh_l0.zero_()
    xt = torch.as_tensor(x)

    def plain():
        lstm.zero_grad()
        (lstm(xt)[0] ** 2).sum().backward()
    step, sync = keras_layer_step(shape)
    return {"torch nn.LSTM (oneDNN)": timed(plain, repeats, calls),
            "torch Keras layer, " + ("zoo fast path" if os.environ.get("ZOO_FUSED_RNN") != "0"
                                     else "Keras's own path"): timed(step, repeats, calls, sync)}


# ---------------------------------------------------------------------- tensorflow
def tf_block_lstm(x, kernel, recurrent_kernel, bias):
    import tensorflow as tf

    batch, steps, units = x.shape[0], x.shape[1], recurrent_kernel.shape[0]
    zeros, no_peephole = tf.zeros((batch, units)), tf.zeros(units)
    out = tf.raw_ops.BlockLSTMV2(  # gates i, f, c, o: Keras's order
        seq_len_max=tf.constant(steps, tf.int64), x=tf.transpose(x, [1, 0, 2]), cs_prev=zeros, h_prev=zeros,
        w=tf.concat([kernel, recurrent_kernel], 0), wci=no_peephole, wcf=no_peephole, wco=no_peephole, b=bias,
        cell_clip=0.0, use_peephole=False)
    return tf.transpose(out[6], [1, 0, 2])


def tf_loop_whole_sequence_products(x, kernel, recurrent_kernel, bias):
    """LSTM outputs, with a gradient whose input and weight products cover all steps at once."""
    import tensorflow as tf

    @tf.custom_gradient
    def run(x, kernel, recurrent_kernel, bias):
        batch, steps, features = x.shape
        units = recurrent_kernel.shape[0]
        xs = tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, features])
        projected = tf.reshape(xs @ kernel + bias, [steps, batch, 4 * units])
        array = lambda: tf.TensorArray(x.dtype, size=steps)  # noqa: E731

        def forward(t, h, c, hs, cs, gates):
            i, f, g, o = tf.split(projected[t] + h @ recurrent_kernel, 4, axis=-1)
            i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
            c = f * c + i * g
            h = o * tf.tanh(c)
            return t + 1, h, c, hs.write(t, h), cs.write(t, c), gates.write(t, tf.concat([i, f, g, o], -1))
        zeros = tf.zeros((batch, units))
        _, _, _, hs, cs, gates = tf.while_loop(lambda t, *_: t < steps, forward,
                                               (0, zeros, zeros, array(), array(), array()))
        hs, cs, gates = hs.stack(), cs.stack(), gates.stack()

        def gradient(upstream):
            upstream = tf.transpose(upstream, [1, 0, 2])
            c_prev = tf.concat([zeros[None], cs[:-1]], 0)

            def backward(t, dh, dc, dzs):
                t = t - 1
                i, f, g, o = tf.split(gates[t], 4, axis=-1)
                dh = dh + upstream[t]
                tanh_c = tf.tanh(cs[t])
                dc = dc + dh * o * (1 - tanh_c * tanh_c)
                dz = tf.concat([dc * g * i * (1 - i), dc * c_prev[t] * f * (1 - f), dc * i * (1 - g * g),
                                dh * tanh_c * o * (1 - o)], -1)
                return t, tf.matmul(dz, recurrent_kernel, transpose_b=True), dc * f, dzs.write(t, dz)
            _, _, _, dzs = tf.while_loop(lambda t, *_: t > 0, backward, (steps, zeros, zeros, array()))
            dz = tf.reshape(dzs.stack(), [-1, 4 * units])
            h_prev = tf.reshape(tf.concat([zeros[None], hs[:-1]], 0), [-1, units])
            dx = tf.transpose(tf.reshape(tf.matmul(dz, kernel, transpose_b=True), [steps, batch, features]), [1, 0, 2])
            return (dx, tf.matmul(xs, dz, transpose_a=True), tf.matmul(h_prev, dz, transpose_a=True),
                    tf.reduce_sum(dz, 0))
        return tf.transpose(hs, [1, 0, 2]), gradient
    return run(x, kernel, recurrent_kernel, bias)


def tensorflow_kernels(shape, repeats, calls) -> dict:
    import tensorflow as tf

    x, *weight_values = weights(shape)
    variables = [tf.Variable(w) for w in weight_values]
    found = {}
    if os.environ.get("BENCH_KERAS_LAYER_ONLY") == "1":
        step, sync = keras_layer_step(shape)
        return {"tensorflow Keras layer": timed(step, repeats, calls, sync)}
    for name, kernel_fn in (("tensorflow BlockLSTMV2 (fused op)", tf_block_lstm),
                            ("tensorflow loop, whole-sequence products", tf_loop_whole_sequence_products)):
        @tf.function
        def step(kernel_fn=kernel_fn):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(kernel_fn(tf.constant(x), *variables) ** 2)
            return tape.gradient(loss, variables)
        found[name] = timed(step, repeats, calls, lambda r: [v.numpy() for v in r])
    step, sync = keras_layer_step(shape)
    return {"tensorflow Keras layer": timed(step, repeats, calls, sync), **found}


# ---------------------------------------------------------------------- jax
def jax_scan(x, kernel, recurrent_kernel, bias, *, unroll):
    import jax
    from jax import numpy as jnp

    batch, steps, features = x.shape
    projected = (x.transpose(1, 0, 2).reshape(-1, features) @ kernel + bias).reshape(steps, batch, -1)

    def cell(carry, z_x):
        h, c = carry
        i, f, g, o = jnp.split(z_x + h @ recurrent_kernel, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h
    zeros = jnp.zeros((batch, recurrent_kernel.shape[0]))
    return jax.lax.scan(cell, (zeros, zeros), projected, unroll=unroll)[1]


def jax_kernels(shape, repeats, calls) -> dict:
    import jax

    x, *weight_values = weights(shape)
    found = {}
    step, sync = keras_layer_step(shape)
    found["jax Keras layer (lax.scan)"] = timed(step, repeats, calls, sync)
    if os.environ.get("BENCH_KERAS_LAYER_ONLY") == "1":
        return found
    for name, unroll in (("jax scan, inputs projected first", 1), ("jax scan, inputs projected first, unroll 4", 4)):
        grad = jax.jit(jax.grad(lambda w, unroll=unroll: (jax_scan(x, *w, unroll=unroll) ** 2).sum()))
        found[name] = timed(lambda grad=grad: grad(weight_values), repeats, calls, jax.block_until_ready)
    return found


# ---------------------------------------------------------------------- driver
RUNS = (("torch", {}), ("torch", {"ZOO_FUSED_RNN": "0"}), ("tensorflow", {}), ("jax", {}))
# The engines' CPU switches: (backend, what is switched, environment set before it starts).
# XLA's flags are those jaxlib 0.10 lists (``strings libjax_common.so | grep xla_cpu_``).
LEVERS = (
    ("tensorflow", "defaults (oneDNN as TensorFlow decides for this CPU)", {}),
    ("tensorflow", "TF_ENABLE_ONEDNN_OPTS=0 (Eigen kernels)", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    ("tensorflow", "TF_ENABLE_ONEDNN_OPTS=1", {"TF_ENABLE_ONEDNN_OPTS": "1"}),
    ("tensorflow", "XLA (tf.function jit_compile=True)", {"BENCH_TF_JIT_COMPILE": "1"}),
    ("tensorflow", "1 intra-op thread", {"TF_NUM_INTRAOP_THREADS": "1"}),
    ("jax", "defaults", {}),
    ("jax", "--xla_cpu_use_xnnpack=true", {"XLA_FLAGS": "--xla_cpu_use_xnnpack=true"}),
    ("jax", "--xla_cpu_use_onednn=true", {"XLA_FLAGS": "--xla_cpu_use_onednn=true"}),
    ("jax", "--xla_cpu_use_thunk_runtime=false", {"XLA_FLAGS": "--xla_cpu_use_thunk_runtime=false"}),
    ("jax", "--xla_cpu_multi_thread_eigen=false", {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}),
    ("jax", "--xla_cpu_enable_fast_math=true", {"XLA_FLAGS": "--xla_cpu_enable_fast_math=true"}),
    ("jax", "--xla_cpu_prefer_vector_width=512", {"XLA_FLAGS": "--xla_cpu_prefer_vector_width=512"}),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--levers", action="store_true", help="time the engines' CPU switches (module docstring)")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        backend, shape_name = args.one
        if backend == "torch":
            from zoo.compat import torch_rnn

            torch_rnn.enable()  # the zoo's fast path, as building a zoo model switches it on (unless ZOO_FUSED_RNN=0)
        kernels = {"torch": torch_kernels, "tensorflow": tensorflow_kernels, "jax": jax_kernels}[backend]
        print(json.dumps(kernels(SHAPES[shape_name], args.repeats, args.calls)))
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args.levers:
        return levers(args, root)
    print(f"median of {args.repeats} timings of {args.calls} calls; ms per forward+backward of one LSTM layer\n")
    print("| kernel | " + " | ".join(f"{name} (batch {b}, {t} steps, {f} -> {u})"
                                      for name, (b, t, f, u) in ((n, SHAPES[n]) for n in args.shapes.split(",")))
          + " |")
    print("|---|" + "---|" * len(args.shapes.split(",")))
    table = {}
    for shape_name in args.shapes.split(","):
        for backend, extra in RUNS:
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root, **extra)
            out = subprocess.run([sys.executable, __file__, "--one", backend, shape_name, "--repeats",
                                  str(args.repeats), "--calls", str(args.calls)], env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"{backend} {shape_name} failed:\n{out.stderr[-2000:]}")
            for kernel, ms in json.loads(out.stdout.strip().splitlines()[-1]).items():
                if kernel == "torch nn.LSTM (oneDNN)" and table.get(kernel, {}).get(shape_name):
                    continue  # measured in the first torch process; the second is for Keras's own path
                table.setdefault(kernel, {})[shape_name] = ms
    base = table["torch nn.LSTM (oneDNN)"]
    for kernel, by_shape in table.items():
        print(f"| {kernel} | " + " | ".join(f"{by_shape[s]:.1f} ({by_shape[s] / base[s]:.2f}x)"
                                            for s in args.shapes.split(",")) + " |")


def run_one(backend, shape_name, args, root, extra) -> dict | str:
    """The kernels of `backend` at `shape_name` in a fresh process: {kernel: ms}, or why it failed."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root, **extra)
    out = subprocess.run([sys.executable, __file__, "--one", backend, shape_name, "--repeats", str(args.repeats),
                          "--calls", str(args.calls)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1][:120]
    return json.loads(out.stdout.strip().splitlines()[-1])


def levers(args, root) -> None:
    """The Keras layer on tensorflow and jax under each of :data:`LEVERS`, next to nn.LSTM."""
    shapes = args.shapes.split(",")
    table = {}
    for shape_name in shapes:
        torch_run = run_one("torch", shape_name, args, root, {})
        if isinstance(torch_run, str):
            raise SystemExit(f"torch {shape_name} failed: {torch_run}")
        table.setdefault(("torch", "nn.LSTM (oneDNN)"), {})[shape_name] = torch_run["torch nn.LSTM (oneDNN)"]
        for backend, lever, extra in LEVERS:
            found = run_one(backend, shape_name, args, root, {"BENCH_KERAS_LAYER_ONLY": "1", **extra})
            table.setdefault((backend, lever), {})[shape_name] = (
                found if isinstance(found, str) else next(iter(found.values())))
    print(f"median of {args.repeats} timings of {args.calls} calls; ms per forward+backward of one Keras LSTM "
          "layer, each lever in a fresh process; in brackets: over the backend's defaults, over nn.LSTM\n")
    print("| backend | lever | " + " | ".join(f"{n} {SHAPES[n]}" for n in shapes) + " |")
    print("|---|---|" + "---|" * len(shapes))
    base = table[("torch", "nn.LSTM (oneDNN)")]
    for (backend, lever), by_shape in table.items():
        defaults = next(v for (b, _), v in table.items() if b == backend)  # each backend's first row
        cells = []
        for s in shapes:
            ms = by_shape[s]
            cells.append(f"failed: {ms}" if isinstance(ms, str) else
                         f"{ms:.1f} ({ms / defaults[s]:.2f}x, {ms / base[s]:.2f}x)")
        print(f"| {backend} | {lever} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
