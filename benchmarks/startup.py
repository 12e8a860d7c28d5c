"""How long a new user waits for `zoo` to answer: each command in fresh processes, per backend.

    python benchmarks/startup.py --repeats 5

Runs every command `--repeats` times as its own `zoo` process (wall time from the process
start to its exit, the file cache warm after a first unrecorded run) on each backend, and
prints the median and the spread against the start-up budget: a keras-free `predict` of a
shipped model within 0.5 s and `zoo list` within 1.5 s. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

ZOO = [sys.executable, "-m", "zoo"]
COMMANDS = {
    "predict simple_rnn_binary_addition 23+42": (["predict", "simple_rnn_binary_addition", "23+42"], 0.5),
    "translate seq2seq_addition 1+1": (["translate", "seq2seq_addition", "1+1"], 0.5),
    "generate char_lm_shakespeare --prompt A --length 100": (
        ["generate", "char_lm_shakespeare", "--prompt", "A", "--length", "100"], 0.5),
    "recipes": (["recipes"], 1.5),
    "list": (["list"], 1.5),
}


def wall_seconds(args: list[str], backend: str) -> float:
    env = dict(os.environ, KERAS_BACKEND=backend)
    start = time.perf_counter()
    subprocess.run([*ZOO, *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    args = parser.parse_args()
    backends = args.backends.split(",")
    print(f"{cpu_name()}, {os.cpu_count()} cores; median of {args.repeats} fresh processes (min-max)\n")
    print("| command | budget | " + " | ".join(backends) + " |")
    print("|---|---|" + "---|" * len(backends))
    for label, (command, budget) in COMMANDS.items():
        cells = []
        for backend in backends:
            wall_seconds(command, backend)  # warm the file cache
            times = [wall_seconds(command, backend) for _ in range(args.repeats)]
            median = statistics.median(times)
            mark = "" if median <= budget else " (over)"
            cells.append(f"{median:.2f} s ({min(times):.2f}-{max(times):.2f}){mark}")
        print(f"| `zoo {label}` | {budget} s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
