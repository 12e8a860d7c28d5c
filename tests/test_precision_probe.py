"""``--precision auto`` on a CPU: chosen by a measured probe (zoo.distribute.precision_probe),
cached per machine and library versions, with its reason."""

import json

import keras
import pytest

from zoo.distribute import precision, precision_probe
from zoo.errors import ZooError

BACKEND = keras.backend.backend()


def fake_result(speedup: float) -> dict:
    return {"backend": BACKEND, "speedup": speedup,
            "shapes": {shape: {"float32": 10.0, "mixed_bfloat16": round(10.0 / speedup, 2)}
                       for shape in precision_probe.SHAPES}}


@pytest.fixture
def on_cpu(monkeypatch, tmp_path):
    """No GPU; a CPU with bfloat16 instructions (so it is probed); an empty cache folder; no
    probe result kept in this process."""
    monkeypatch.setattr(precision, "gpu_compute_capability", lambda backend=None: None)
    monkeypatch.setattr(precision_probe, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    precision_probe.measured.cache_clear()
    yield tmp_path / "cache"
    precision_probe.measured.cache_clear()


@pytest.mark.parametrize("speedup, expected", [(1.6, "mixed_bfloat16"), (1.15, "mixed_bfloat16"),
                                               (1.1, "float32"), (0.62, "float32")])
def test_auto_picks_bfloat16_only_where_the_probe_measured_it_clearly_faster(speedup, expected, on_cpu,
                                                                            monkeypatch):
    monkeypatch.setattr(precision_probe, "_run_probe", lambda backend: fake_result(speedup))
    chosen, reason = precision.auto_precision(BACKEND)
    assert chosen == expected == precision.resolve_precision("auto", BACKEND)
    assert f"bfloat16 {speedup:.2f}x float32's speed" in reason and "measured on this CPU" in reason
    assert all(shape in reason for shape in precision_probe.SHAPES)
    assert str(on_cpu) in reason  # where the measurement is kept
    assert ("below the" in reason) == (expected == "float32")
    assert precision.resolve_precision("float32", BACKEND) == "float32"  # an explicit choice is not probed


def test_the_probe_runs_once_per_machine_and_versions_then_reads_its_cache(on_cpu, monkeypatch):
    runs = []
    monkeypatch.setattr(precision_probe, "_run_probe", lambda backend: runs.append(backend) or fake_result(1.5))
    first = precision_probe.measured(BACKEND)
    precision_probe.measured.cache_clear()  # as a new process would
    second = precision_probe.measured(BACKEND)
    assert runs == [BACKEND] and first["speedup"] == second["speedup"] == 1.5
    stored = json.loads((on_cpu / "precision-probe.json").read_text())
    key = precision_probe.probe_key(BACKEND)
    assert list(stored) == [key] and stored[key]["measured_at"]
    from zoo.environment import installed_versions, machine

    library = {"tensorflow": "tensorflow", "jax": "jaxlib", "torch": "torch"}[BACKEND]
    assert machine() in key and installed_versions()[library] in key and installed_versions()["keras"] in key

    # A different library version is a different key: measured again, both kept.
    monkeypatch.setattr(precision_probe, "probe_key", lambda backend: key + " (upgraded)")
    precision_probe.measured.cache_clear()
    precision_probe.measured(BACKEND)
    assert runs == [BACKEND, BACKEND]
    assert set(json.loads((on_cpu / "precision-probe.json").read_text())) == {key, key + " (upgraded)"}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"KEY": {"speedup": "fast"}}'])
def test_a_damaged_cache_is_measured_again_and_rewritten(content, on_cpu, monkeypatch):
    on_cpu.mkdir(parents=True)
    (on_cpu / "precision-probe.json").write_text(content.replace("KEY", precision_probe.probe_key(BACKEND)))
    monkeypatch.setattr(precision_probe, "_run_probe", lambda backend: fake_result(0.9))
    assert precision.auto_precision(BACKEND)[0] == "float32"
    assert json.loads((on_cpu / "precision-probe.json").read_text())[precision_probe.probe_key(BACKEND)]["speedup"] == 0.9


def test_an_unwritable_cache_still_gives_a_measured_choice(on_cpu, monkeypatch):
    on_cpu.parent.mkdir(exist_ok=True)
    on_cpu.write_text("a file where the cache folder should be")
    monkeypatch.setattr(precision_probe, "_run_probe", lambda backend: fake_result(2.0))
    chosen, reason = precision.auto_precision(BACKEND)
    assert chosen == "mixed_bfloat16" and "not cached" in reason


def test_a_failing_probe_falls_back_to_float32_and_says_why(on_cpu, monkeypatch):
    def fail(backend):
        raise ZooError(f"the bfloat16 probe on {backend} failed (exit 1): ImportError: nothing")

    monkeypatch.setattr(precision_probe, "_run_probe", fail)
    chosen, reason = precision.auto_precision(BACKEND)
    assert chosen == "float32" and "probe" in reason and "ImportError: nothing" in reason
    assert not (on_cpu / "precision-probe.json").exists()  # a failure is not kept as a measurement


def test_the_real_probe_measures_both_precisions_on_this_backend(on_cpu):
    """The probe itself, in its fresh process on this backend: both precisions timed on every shape."""
    found = precision_probe.measured(BACKEND)
    assert found["backend"] == BACKEND and set(found["shapes"]) == set(precision_probe.SHAPES)
    for times in found["shapes"].values():
        assert set(times) == set(precision_probe.PRECISIONS) and all(ms > 0 for ms in times.values())
    ratios = [t["float32"] / t["mixed_bfloat16"] for t in found["shapes"].values()]
    assert min(ratios) - 0.01 <= found["speedup"] <= max(ratios) + 0.01
    chosen = precision.auto_precision(BACKEND)[0]
    assert chosen == ("mixed_bfloat16" if found["speedup"] >= precision_probe.MIN_SPEEDUP else "float32")


@pytest.mark.parametrize("flags", [frozenset({"fpu", "sse2", "avx", "avx2", "fma"}),  # an x86 CPU with AVX2 alone
                                   frozenset({"fp", "asimd", "sve"})])  # an Arm CPU without BF16
def test_a_cpu_without_bfloat16_instructions_is_float32_without_a_probe(flags, on_cpu, monkeypatch):
    monkeypatch.setattr(precision_probe, "cpu_flags", lambda: flags)
    monkeypatch.setattr(precision_probe, "_run_probe", lambda backend: pytest.fail("emulated bfloat16 is not probed"))
    chosen, reason = precision.auto_precision(BACKEND)
    assert chosen == "float32" == precision.resolve_precision("auto", BACKEND)
    assert "no bfloat16 arithmetic" in reason and "avx512_bf16" in reason
    assert not (on_cpu / "precision-probe.json").exists()


@pytest.mark.parametrize("flags", [frozenset({"avx2", "amx_bf16", "amx_tile"}), frozenset({"fp", "asimd", "bf16"}),
                                   None])  # flags unreadable (not Linux): measure
def test_a_cpu_with_bfloat16_instructions_or_unknown_flags_is_probed(flags, on_cpu, monkeypatch):
    monkeypatch.setattr(precision_probe, "cpu_flags", lambda: flags)
    runs = []
    monkeypatch.setattr(precision_probe, "_run_probe", lambda backend: runs.append(backend) or fake_result(1.5))
    assert precision.auto_precision(BACKEND)[0] == "mixed_bfloat16" and runs == [BACKEND]


@pytest.mark.parametrize("text, expected", [("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n", {"fpu", "avx2", "avx512_bf16"}),
                                            ("processor\t: 0\nFeatures\t: fp asimd bf16\n", {"fp", "asimd", "bf16"}),
                                            ("processor\t: 0\n", None)])
def test_cpu_flags_are_read_from_proc_cpuinfo_on_x86_and_arm(text, expected, monkeypatch, tmp_path):
    (tmp_path / "cpuinfo").write_text(text)
    monkeypatch.setattr(precision_probe, "CPUINFO", tmp_path / "cpuinfo")
    precision_probe.cpu_flags.cache_clear()
    try:
        assert precision_probe.cpu_flags() == (None if expected is None else frozenset(expected))
    finally:
        precision_probe.cpu_flags.cache_clear()
