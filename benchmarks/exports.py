"""Export finished run folders and print a table of verification results for the README.

    python benchmarks/exports.py RUN_DIR [RUN_DIR ...]

For each run: `zoo export RUN_DIR` (all three formats, verified), then, from the manifest,
the largest absolute difference between Keras and each format over all artifacts, and the
task metric through Keras and through each format.
"""

import json
import pathlib
import subprocess
import sys
import time


def main() -> None:
    rows = []
    for run in map(pathlib.Path, sys.argv[1:]):
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "zoo.cli", "export", str(run)])
        seconds = time.perf_counter() - started
        if code != 0:
            rows.append(f"| {run.name} | export failed (exit {code}) | | | | |")
            continue
        manifest = json.loads((run / "export" / "manifest.json").read_text())
        report = manifest["verification"]
        diffs = {fmt: max(values.values()) for fmt, values in report["max_abs_diff"].items()}
        metric = report["metric"]
        deltas = {fmt: abs(value - metric["keras"]) for fmt, value in metric["artifacts"].items()}
        generation = "; 200 greedy chars identical" if report.get("generation") and all(
            g["greedy_200_identical"] for g in report["generation"].values()) else ""
        rows.append(
            f"| {run.name} | {manifest['training_backend']} | {', '.join(manifest['artifacts'])} | "
            + " / ".join(f"{diffs[f]:.1e}" for f in ("keras", "savedmodel", "onnx"))
            + f" | {metric['name']} {metric['keras']:.4f}; delta "
            + " / ".join(f"{deltas[f]:.1e}" for f in ("savedmodel", "onnx")) + generation
            + f" | {seconds:.0f} s |"
        )
    print("| run | trained on | artifacts | max abs diff keras / savedmodel / onnx | metric; delta savedmodel / onnx | export time |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
