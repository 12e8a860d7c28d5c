"""TensorFlow's two training speeds, reduced to one LSTM layer: the reproduction for upstream.

    python benchmarks/tf_two_speeds.py [--processes 3] [--calls 20] [--shape 128,7,32,256]

One Keras LSTM layer's forward and backward pass in a ``tf.function`` (default: the
addition network's encoder, batch 128, 7 steps, 32 -> 256 units), timed in fresh processes
after one of:

* ``nothing``: nothing else ran first;
* ``from_generator``: a one-element ``tf.data.Dataset.from_generator`` was iterated first,
  as Keras does with every ``PyDataset`` it trains on. Its ``GeneratorDatasetOp`` calls
  ``mallopt(M_MMAP_THRESHOLD, 131072)`` once a process (TensorFlow logs "Memory patch
  applied" at INFO level), which also freezes glibc's dynamic mmap threshold;
* ``from_generator + mallopt``: the same, then ``mallopt(M_MMAP_THRESHOLD, 32 MiB)`` and
  ``mallopt(M_TRIM_THRESHOLD, 64 MiB)``, what ``zoo.compat.malloc_threshold`` does.

For each it prints the median milliseconds per call, the minor page faults per call, and
whether a 1 MiB ``malloc`` came from ``mmap`` (its chunk's ``IS_MMAPPED`` bit). Only
TensorFlow, Keras and numpy are imported in the timed processes, not the zoo. Time it on an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CASES = ("nothing", "from_generator", "from_generator + mallopt")


def mmapped(libc, size: int) -> bool:
    """Whether glibc serves a `size`-byte malloc from mmap now (its chunk's IS_MMAPPED bit)."""
    pointer = libc.malloc(size)
    try:
        return bool(ctypes.c_size_t.from_address(pointer - ctypes.sizeof(ctypes.c_size_t)).value & 0x2)
    finally:
        libc.free(pointer)


def one(case: str, shape: tuple[int, ...], calls: int) -> dict:
    """Time the layer in this process after `case`."""
    import keras
    import numpy as np
    import tensorflow as tf

    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    if case != "nothing":
        for _ in tf.data.Dataset.from_generator(lambda: iter((0,)), output_signature=tf.TensorSpec((), tf.int32)):
            pass
    if case == "from_generator + mallopt":
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    batch, steps, features, units = shape
    x = tf.constant(np.random.default_rng(0).standard_normal((batch, steps, features)).astype("float32"))
    layer = keras.layers.LSTM(units, return_sequences=True)
    layer.build(x.shape)

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(loss, layer.trainable_variables)

    forward_backward(x)[0].numpy()  # tracing and the first, slower calls
    times, faults = [], []
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        started = time.perf_counter()
        for _ in range(calls):
            gradients = forward_backward(x)
        gradients[0].numpy()
        times.append((time.perf_counter() - started) / calls * 1e3)
        faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls)
    return {"ms": statistics.median(times), "faults": statistics.median(faults), "mmapped": mmapped(libc, 1 << 20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per case")
    parser.add_argument("--calls", type=int, default=20, help="calls per timing (median of 5 timings)")
    parser.add_argument("--shape", default="128,7,32,256", help="batch,steps,features,units")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    if args.one:
        print(json.dumps(one(args.one, shape, args.calls)))
        return
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    results = {case: [] for case in CASES}
    for _ in range(args.processes):
        for case in CASES:  # alternating, so drifts in machine load hit every case alike
            out = subprocess.run([sys.executable, __file__, "--one", case, "--shape", args.shape, "--calls",
                                  str(args.calls)], env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"{case} failed:\n{out.stderr[-2000:]}")
            results[case].append(json.loads(out.stdout.strip().splitlines()[-1]))
    import tensorflow as tf

    print(f"tensorflow {tf.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} cores; LSTM layer "
          f"{shape}; {args.processes} fresh processes per case\n")
    print("| first in the process | ms per call (each process) | median | minor page faults per call | "
          "1 MiB malloc from mmap |")
    print("|---|---|---|---|---|")
    for case, runs in results.items():
        each = ", ".join(f"{run['ms']:.1f}" for run in runs)
        print(f"| {case} | {each} | {statistics.median(run['ms'] for run in runs):.1f} "
              f"| {statistics.median(run['faults'] for run in runs):,.0f} | {'yes' if runs[0]['mmapped'] else 'no'} |")


if __name__ == "__main__":
    main()
