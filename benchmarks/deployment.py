"""What each deployment engine gives and costs, per shipped model: file size, batch-1 latency,
batch-64 throughput, characters per second for the language models, and the task metric.

    python benchmarks/deployment.py --exports /tmp/deploy --repeats 50
    python benchmarks/deployment.py --models char_lm_shakespeare,lstm_fashion_mnist --backends torch

Each shipped model is exported once into --exports (every format and the int8 variants,
verified as every export is; kept for the next run). Engines: Keras on each backend (its run
folder, in a subprocess per backend), SavedModel, ONNX, ONNX int8, LiteRT, LiteRT int8,
OpenVINO. The metric is the one the export measured through that engine on the full
evaluation split before publishing (Keras: the float32 model's). Latency is the median of
--repeats calls of the full model on one example (after 3 warm-up calls); throughput is
examples per second at batch 64; characters per second are 200 characters generated at batch
1 through the step artifact. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np

ENGINES = ("savedmodel", "onnx", "onnx-int8", "litert", "litert-int8", "openvino")
FORMATS = "keras,savedmodel,onnx,litert,openvino"
SAVED = pathlib.Path(__file__).resolve().parents[1] / "saved_models"
TIME_STEPS = 100  # a text window for the language models' full model


def example_inputs(model, batch: int, rng) -> dict:
    """Inputs of the full model for `batch` examples, made from its manifest-style spec."""
    inputs = {}
    ids = len(model.vocab) if model.vocab is not None else len(model.classes or [2])
    for name, spec in _input_specs(model).items():
        shape = [batch] + [TIME_STEPS if d is None else d for d in spec["shape"][1:]]
        if np.dtype(spec["dtype"]).kind == "i":
            inputs[name] = rng.integers(4 if model.vocab is not None else 0, ids, size=shape).astype(spec["dtype"])
        else:
            inputs[name] = rng.random(shape, dtype=np.float32)
    return inputs


def _input_specs(model) -> dict:
    if hasattr(model, "artifacts"):  # an export
        return {i["name"]: i for i in model.artifacts["model"]["inputs"]}
    from zoo.manifest import io_spec

    return {i["name"]: i for i in io_spec(model.models["model"])["inputs"]}


def timings(model, repeats: int) -> dict:
    """Batch-1 latency (ms), batch-64 throughput (examples/s) and, for language models,
    characters/s of 200 greedy characters at batch 1."""
    rng = np.random.default_rng(0)
    one, many = example_inputs(model, 1, rng), example_inputs(model, 64, rng)
    for _ in range(3):
        model.run("model", one)
    latencies = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.run("model", one)
        latencies.append(time.perf_counter() - start)
    model.run("model", many)
    rounds = max(1, repeats // 10)
    start = time.perf_counter()
    for _ in range(rounds):
        model.run("model", many)
    result = {"latency_ms": 1e3 * statistics.median(latencies), "throughput": 64 * rounds / (time.perf_counter() - start)}
    if model.task_name == "language_model":
        prompt = model.vocab.chars[0]  # any character of the model's own vocabulary
        model.generate(prompt, 10, temperature=0)
        start = time.perf_counter()
        model.generate(prompt, 200, temperature=0)
        result["chars_per_s"] = 200 / (time.perf_counter() - start)
    return result


def format_size(folder: pathlib.Path, engine: str) -> int:
    """Bytes of an engine's artifact files in an export (int8 files apart from the float ones)."""
    from zoo import formats

    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    fmt = formats.get_format(engine)
    prefixes = [fmt.path(artifact) for artifact in manifest["artifacts"]]
    return sum((folder / name).stat().st_size for name in manifest["files"]
               if any(name == p or name.startswith(p + "/") for p in prefixes))


def exported_metric(folder: pathlib.Path, engine: str) -> tuple[str, float]:
    checks = json.loads((folder / "manifest.json").read_text("utf-8"))["verification"]
    if engine in checks.get("int8", {}):
        return checks["int8"][engine]["name"], checks["int8"][engine]["int8"]
    if engine == "keras":
        return checks["metric"]["name"], checks["metric"]["keras"]
    return checks["metric"]["name"], checks["metric"]["artifacts"][engine]


def keras_timings(name: str, backend: str, repeats: int) -> dict:
    """Keras on `backend`, measured in a fresh process (the backend is fixed at import)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import deployment, zoo; "
            "print(json.dumps(deployment.timings(zoo.load(sys.argv[2], engine='keras'), int(sys.argv[3]))))")
    result = subprocess.run([sys.executable, "-c", code, str(pathlib.Path(__file__).parent), name, str(repeats)],
                            env=dict(os.environ, KERAS_BACKEND=backend), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"keras on {backend} failed on {name}:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    import zoo
    from zoo.export import export_run
    from zoo.pretrained import shipped

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", default="/tmp/zoo-deployment", help="Where the exports are made and kept.")
    parser.add_argument("--models", help="Comma-separated shipped models [default: all].")
    parser.add_argument("--backends", default="tensorflow,jax,torch", help="Keras backends to time ('' for none).")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", help="Also write the rows here.")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else list(shipped())
    backends = [b for b in args.backends.split(",") if b]
    from zoo.environment import machine

    print(f"{machine()}; median of {args.repeats} batch-1 calls\n")
    print("| model | engine | size | batch-1 latency | batch-64 throughput | chars/s (batch 1) | metric |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name in names:
        folder = pathlib.Path(args.exports) / name
        if not (folder / "manifest.json").is_file():  # checked as the model was shipped: at its own tolerance
            card = json.loads((SAVED / name / "card.json").read_text("utf-8"))
            export_run(SAVED / name, formats=(*FORMATS.split(","), "onnx-int8", "litert-int8"), out=folder,
                       tolerance=card["export"]["verification"]["tolerance"]["absolute"])
        keras_size = (SAVED / name / "model.keras").stat().st_size
        measured = [(f"keras ({b})", keras_size, "keras", keras_timings(name, b, args.repeats)) for b in backends]
        for engine in ENGINES:
            measured.append((engine, format_size(folder, engine), engine,
                             timings(zoo.load(folder, engine), args.repeats)))
        for label, size, engine, t in measured:
            metric, value = exported_metric(folder, engine)
            row = {"model": name, "engine": label, "size_bytes": size, **t, "metric": metric, "value": value}
            rows.append(row)
            chars = f"{t['chars_per_s']:,.0f}" if "chars_per_s" in t else "-"
            print(f"| `{name}` | {label} | {size / 1e6:.2f} MB | {t['latency_ms']:.2f} ms | "
                  f"{t['throughput']:,.0f}/s | {chars} | {metric} {value:.4f} |", flush=True)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
