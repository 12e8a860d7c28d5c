"""Generation and exported-inference speed: step models against a naive loop, ONNX against
Keras, latency at batch 1 and throughput at batch 1, 32 and 256.

    python benchmarks/inference.py [--out DIR] [--length 200] [--repeats 3] [--lm char_lm_shakespeare]

It trains the default-size networks of `--lm` (`char_lm_shakespeare`'s 2 x LSTM(512), or
another language-model recipe such as `hawk_shakespeare`) and
`lstm_fashion_mnist` for one step each (`--limit`: speed does not depend on the weights),
exports them, and times, on the tensorflow backend in this process:

* characters per second generating `--length` characters at batch 1: through the Keras
  step model (`zoo generate RUN --engine keras`'s path, built once), through the ONNX step artifact (`zoo generate`'s), and
  with a naive loop that re-runs the full model on the growing text for every character;
  and for 32 prompts in one batch;
* classification latency at batch 1: ONNX (`ExportedModel.classify`) against
  `model.predict`, and images per second at batch 1, 32 and 256 for both.

Medians of `--repeats` runs; time it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def zoo(*args) -> None:
    subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)], check=True, stdout=subprocess.DEVNULL)


def timed(function, repeats):
    """Median seconds of `repeats` calls (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/benchmarks/inference"))
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lm", default="char_lm_shakespeare", help="the language-model recipe whose network generates")
    args = parser.parse_args()
    lm_run, fashion_run = args.out / args.lm, args.out / "fashion"
    for recipe, run, limit in ((args.lm, lm_run, 2), ("lstm_fashion_mnist", fashion_run, 64)):
        if not (run / "export" / "manifest.json").is_file():
            zoo("train", recipe, "--epochs", "1", "--limit", limit, "--out", run, "--overwrite")
            zoo("export", run, "--format", "onnx")

    import keras
    import numpy as np

    from zoo.pretrained import load as zoo_load
    from zoo.runtime import ExportedModel
    from zoo.runs import load_run

    rows = []
    # ------------------------------------------------------------------ generation
    recipe, model, vocab, _ = load_run(lm_run)
    exported = ExportedModel(lm_run / "export")
    prompt, n = "ROMEO:", args.length

    def naive():
        ids = list(vocab.encode(prompt))
        for _ in range(n):
            logits = model.predict_on_batch(np.array([ids], dtype="int32"))
            ids.append(int(np.argmax(keras.ops.convert_to_numpy(logits)[0, -1])))

    # Both loaded once, as `zoo generate` does: the Keras step model (zoo.load(run, engine="keras"))
    # and the ONNX step artifact; the timings are per generation call.
    keras_steps = zoo_load(lm_run, engine="keras")
    keras_s = timed(lambda: keras_steps.generate(prompt, n, temperature=0), args.repeats)
    onnx_s = timed(lambda: exported.generate(prompt, n, temperature=0), args.repeats)
    naive_s = timed(naive, max(1, args.repeats // 3))
    rows.append(("generation, batch 1", f"{n} greedy characters", f"naive loop {n / naive_s:,.0f} chars/s",
                 f"Keras step {n / keras_s:,.0f} chars/s ({naive_s / keras_s:.1f}x)",
                 f"ONNX step {n / onnx_s:,.0f} chars/s ({naive_s / onnx_s:.1f}x)"))
    prompts = [prompt] * 32
    keras_32 = timed(lambda: keras_steps.generate(prompts, n, temperature=0), args.repeats)
    onnx_32 = timed(lambda: exported.generate(prompts, n, temperature=0), args.repeats)
    rows.append(("generation, 32 prompts in one batch", f"{n} greedy characters each", "",
                 f"Keras step {32 * n / keras_32:,.0f} chars/s", f"ONNX step {32 * n / onnx_32:,.0f} chars/s"))

    # ------------------------------------------------------------------ classification
    _, classifier, _, _ = load_run(fashion_run)
    exported = ExportedModel(fashion_run / "export")
    images = np.random.default_rng(0).random((256, 28, 28), dtype=np.float32)
    keras_1 = timed(lambda: classifier.predict(images[:1], verbose=0), args.repeats * 5)
    onnx_1 = timed(lambda: exported.classify(images[:1]), args.repeats * 5)
    rows.append(("classification latency, batch 1", "", f"model.predict {keras_1 * 1e3:.2f} ms",
                 f"predict_on_batch {timed(lambda: classifier.predict_on_batch(images[:1]), args.repeats * 5) * 1e3:.2f} ms",
                 f"ONNX {onnx_1 * 1e3:.2f} ms ({keras_1 / onnx_1:.1f}x model.predict)"))
    for batch in (1, 32, 256):
        keras_b = timed(lambda: classifier.predict_on_batch(images[:batch]), args.repeats)
        onnx_b = timed(lambda: exported.classify(images[:batch]), args.repeats)
        rows.append((f"classification throughput, batch {batch}", "", "",
                     f"Keras predict_on_batch {batch / keras_b:,.0f} images/s",
                     f"ONNX {batch / onnx_b:,.0f} images/s"))

    print(f"\nmedian of {args.repeats} runs; backend {keras.backend.backend()}; {os.cpu_count()} cores; "
          f"generation: {args.lm}'s network\n")
    print("| measure | work | baseline | Keras | ONNX |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
