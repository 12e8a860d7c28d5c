"""Train recipes to completion and print a table: recipe, backend, epochs, wall time, metric.

    python benchmarks/recipes.py --runs RECIPE:BACKEND [RECIPE:BACKEND ...] [--out DIR]

Each run is a separate `zoo train` process (the backend is fixed per process); its run
folder lands in DIR/<recipe>-<backend>. The table is printed as Markdown for the README and
the rows are also written to DIR/results.json.
"""

import argparse
import json
import pathlib
import platform
import subprocess
import sys
import time

HEADLINE = {
    "classification": ("accuracy", "accuracy"),
    "language_model": ("loss", "loss (nats/char)"),
    "seq2seq": ("exact_match", "exact match"),
}


def run_one(recipe: str, backend: str, out: pathlib.Path, extra: list[str]) -> dict:
    run_dir = out / f"{recipe}-{backend}"
    cmd = [sys.executable, "-m", "zoo.cli", "--backend", backend, "train", recipe, "--out", str(run_dir), *extra]
    started = time.perf_counter()
    with open(out / f"{recipe}-{backend}.log", "w") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    if code != 0:
        return {"recipe": recipe, "backend": backend, "error": f"exit {code}, see {log.name}", "wall_s": wall}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    task = json.loads((run_dir / "config.json").read_text())["recipe"]["task"]
    key, label = HEADLINE[task]
    # Metrics are named by their split: test_..., or train_... for a task without held-out data.
    split = "test" if f"test_{key}" in metrics else "train"
    return {"recipe": recipe, "backend": backend, "epochs": metrics["epochs"], "wall_s": round(wall, 1),
            "metric": f"{split} {label}", "value": metrics[f"{split}_{key}"], "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="RECIPE:BACKEND pairs")
    parser.add_argument("--out", default="runs/benchmarks", type=pathlib.Path)
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: extra `zoo train` options")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    extra = [a for a in args.extra if a != "--"]
    rows = []
    for pair in args.runs:
        recipe, backend = pair.split(":")
        rows.append(run_one(recipe, backend, args.out, extra))
        print(json.dumps(rows[-1]), flush=True)
        (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"\nmachine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}")
    print("| recipe | backend | epochs | wall time | metric | value |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['recipe']} | {r['backend']} | - | {r['wall_s'] / 60:.1f} min | failed: {r['error']} | |")
        else:
            print(f"| {r['recipe']} | {r['backend']} | {r['epochs']} | {r['wall_s'] / 60:.1f} min | {r['metric']} | {r['value']:.4f} |")


if __name__ == "__main__":
    main()
