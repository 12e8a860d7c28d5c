"""The measured probe behind ``--precision auto`` on a CPU: does bfloat16 train faster here?

Whether bfloat16 pays on a CPU depends on the CPU (AMX tiles, AVX-512 BF16 alone, neither),
the backend and the shape, and CPU flags do not say it: TensorFlow computed bfloat16 no
faster than float32 on an Intel Xeon with AMX but 1.17x-1.24x faster on an AMD EPYC with
AVX512-BF16 alone, JAX slower on both, torch's fused LSTM 1.4x to 2x faster
(docs/scaling-out.md). So ``auto`` measures: :func:`measure` times the training step
of a Keras LSTM network in float32 and in mixed bfloat16 on each of :data:`SHAPES` (the row
classifiers' width and the character LM's), in a fresh process with the patches a zoo run
gets, interleaving the two precisions. bfloat16 wins where its geometric-mean speed-up over
the shapes is at least :data:`MIN_SPEEDUP`; the margin keeps the choice stable from run to
run on a busy machine. Only a CPU without any bfloat16 arithmetic (:func:`bfloat16_emulated`:
no AMX-BF16 or AVX512-BF16 on x86, no BF16 on Arm) is not measured: bfloat16 is emulated in
software there (an AMD EPYC with AVX2 alone ran it at 0.05x-0.84x float32's speed, and the
probe took 34 s to 72 s to say so), so ``auto`` is float32 at once.

The result is cached per machine (:func:`cache_file`: ``$ZOO_CACHE_DIR``, else
``$XDG_CACHE_HOME/keras-rnn-zoo``, else ``~/.cache/keras-rnn-zoo``), keyed by the CPU model,
its bfloat16 flags, the core count, the backend's library version, Keras's version and
:data:`PROBE_VERSION` (:func:`probe_key`), so a new CPU or a library upgrade measures again.
The first ``auto`` on a machine takes about 15 s; later ones read the file. Delete the file
to measure again; choose a precision explicitly (``--precision float32``) to skip it.

Run as ``python -m zoo.distribute.precision_probe`` (with ``KERAS_BACKEND`` set) it prints
the measurement as JSON; :func:`measured` runs it that way.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

from zoo.errors import ZooError

PROBE_VERSION = 1  # part of the cache key: bump when the probe's shapes or rule change

# name: (batch, time steps, features, LSTM units, classes at every step)
SHAPES = {
    "LSTM(128), batch 128 x 28 x 28": (128, 28, 28, 128, 10),  # the row classifiers
    "LSTM(512), batch 32 x 50 x 64": (32, 50, 64, 512, 64),  # the char LM's width, a shorter batch
}
PRECISIONS = ("float32", "mixed_bfloat16")
MIN_SPEEDUP = 1.15  # bfloat16 over float32, geometric mean over SHAPES
WARMUP_CALLS, TIMED_CALLS = 3, 7
TIMEOUT_S = 300

# /proc/cpuinfo flags of bfloat16 matrix instructions (x86: AMX tiles, AVX-512 BF16; Arm: BF16): part
# of the probe's cache key (a CPU with them may still compute bfloat16 no faster: the probe measures).
BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16", "bf16"}
CPUINFO = pathlib.Path("/proc/cpuinfo")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset | None:
    """This CPU's instruction-set flags from Linux's /proc/cpuinfo (x86's ``flags``, Arm's
    ``Features``); None where they cannot be read (another OS), so nothing is concluded from them."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def cpu_bfloat16_flags() -> frozenset:
    """This CPU's bfloat16 matrix instructions among :data:`BF16_CPU_FLAGS`."""
    return frozenset(BF16_CPU_FLAGS & (cpu_flags() or frozenset()))


def bfloat16_emulated() -> bool:
    """True where this CPU's flags are known and hold no bfloat16 arithmetic: bfloat16 would be
    emulated in software, so the probe is not worth its minute."""
    return cpu_flags() is not None and not cpu_bfloat16_flags()


def cache_file() -> pathlib.Path:
    """The per-machine cache of probe results."""
    folder = (os.environ.get("ZOO_CACHE_DIR")
              or pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "keras-rnn-zoo")
    return pathlib.Path(folder) / "precision-probe.json"


def probe_key(backend: str) -> str:
    """What the measurement depends on: the CPU, the backend's library and Keras versions."""
    from zoo.environment import installed_versions, machine

    versions = installed_versions()
    library = {"tensorflow": "tensorflow", "jax": "jaxlib", "torch": "torch"}[backend]
    flags = ",".join(sorted(cpu_bfloat16_flags())) or "no bfloat16 flags"
    return (f"{machine()}; {flags}; {backend}: {library} {versions.get(library)}, keras {versions.get('keras')}; "
            f"probe {PROBE_VERSION}")


def _read_cache() -> dict:
    try:
        found = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _valid(result) -> bool:
    return (isinstance(result, dict) and isinstance(result.get("speedup"), (int, float))
            and isinstance(result.get("shapes"), dict))


@functools.lru_cache(maxsize=None)
def measured(backend: str) -> dict:
    """The probe's result for `backend` on this machine: from the cache, else measured now in
    a fresh process and cached. A dict with ``shapes`` ({shape: {precision: ms}}), ``speedup``
    (bfloat16 over float32, geometric mean), ``key`` and ``cached`` (the file it is kept in, or
    None where the cache cannot be written). Raises ZooError if the probe fails."""
    key = probe_key(backend)
    found = _read_cache().get(key)
    if _valid(found):
        return {**found, "key": key, "cached": str(cache_file())}
    result = _run_probe(backend)
    result["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    cached = None
    try:
        from zoo.storage import atomic_write_text

        path = cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({**_read_cache(), key: result}, indent=1, sort_keys=True) + "\n")
        cached = str(path)
    except OSError:
        pass  # an unwritable cache: measured again by the next process
    return {**result, "key": key, "cached": cached}


def _run_probe(backend: str) -> dict:
    root = str(pathlib.Path(__file__).resolve().parents[2])  # so a checkout's zoo imports without an install
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "zoo.distribute.precision_probe"], env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ZooError(f"the bfloat16 probe on {backend} ran past {TIMEOUT_S} s") from None
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ZooError(f"the bfloat16 probe on {backend} failed (exit {done.returncode}): {last}") from None
    if not _valid(result):
        raise ZooError(f"the bfloat16 probe on {backend} printed no measurement")
    return result


def measure() -> dict:
    """Time one training step of a Keras LSTM network in each of :data:`PRECISIONS` on each of
    :data:`SHAPES`, on Keras's backend in this process (medians of :data:`TIMED_CALLS`, the
    precisions interleaved call by call)."""
    import keras
    import numpy as np

    from zoo.registry import load_families

    load_families()  # the patches a zoo run gets: torch's fused LSTM, the malloc threshold
    shapes = {}
    for name, (batch, steps, features, units, classes) in SHAPES.items():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, steps, features)).astype("float32")
        y = rng.integers(0, classes, (batch, steps)).astype("int32")
        models = {}
        for precision in PRECISIONS:
            keras.config.set_dtype_policy(precision)  # the layers take the policy they are built under
            inputs = keras.Input((steps, features))
            hidden = keras.layers.LSTM(units, return_sequences=True)(inputs)
            model = keras.Model(inputs, keras.layers.Dense(classes, dtype="float32")(hidden))
            model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            keras.config.set_dtype_policy("float32")
            for _ in range(WARMUP_CALLS):
                model.train_on_batch(x, y)
            models[precision] = model
        times = {precision: [] for precision in PRECISIONS}
        for _ in range(TIMED_CALLS):
            for precision, model in models.items():
                start = time.perf_counter()
                model.train_on_batch(x, y)
                times[precision].append(time.perf_counter() - start)
        shapes[name] = {precision: round(1000 * statistics.median(t), 2) for precision, t in times.items()}
    speedup = math.exp(statistics.fmean(math.log(ms["float32"] / ms["mixed_bfloat16"]) for ms in shapes.values()))
    return {"backend": keras.backend.backend(), "shapes": shapes, "speedup": round(speedup, 3)}


if __name__ == "__main__":
    print(json.dumps(measure()))
