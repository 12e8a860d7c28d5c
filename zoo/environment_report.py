"""The environment report `zoo env` prints: the backend, library versions, devices, the
precision ``auto`` picks and why, and the library patches in force (:func:`report`)."""

from __future__ import annotations

from zoo.environment import installed_versions, library_versions, machine


def report() -> dict:
    """This process's environment as data (``zoo env``): the backend, library versions (those
    a run records, and those of every backend installed), the machine and the devices the
    backend sees, the precision ``auto`` picks and why, and the library patches
    (:func:`zoo.compat.report`) as a zoo model built or loaded here gets them. Imports Keras
    and its backend's library; TensorFlow only on the tensorflow backend."""
    import keras

    from zoo import compat
    from zoo.distribute.precision import auto_precision
    from zoo.registry import load_families

    load_families()  # switches on the patches a model built or loaded here runs with, as building it would
    precision, why = auto_precision()
    return {"backend": keras.backend.backend(), "versions": library_versions(), "installed": installed_versions(),
            "machine": machine(), "devices": devices(), "precision": {"auto": precision, "reason": why},
            "compat": compat.report()}


def devices() -> list[str]:
    """The devices Keras's backend sees here, as "kind:index", with a GPU's name."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" + (f" ({d.device_kind})" if d.platform != "cpu" else "") for d in jax.devices()]
    if backend == "torch":
        import torch

        return ["cpu:0"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    import tensorflow as tf

    found = []
    for device in tf.config.list_physical_devices():
        name = device.name.removeprefix("/physical_device:").lower()
        details = tf.config.experimental.get_device_details(device) if device.device_type == "GPU" else {}
        found.append(name + (f" ({details['device_name']})" if details.get("device_name") else ""))
    return found


def report_lines(environment: dict) -> list[str]:
    """`environment` (:func:`report`) as lines for a person to read."""
    versions = ", ".join(f"{name} {version}" for name, version in environment["versions"].items())
    precision = environment["precision"]
    lines = [f"backend    {environment['backend']} ({versions})",
             f"machine    {environment['machine']}",
             f"devices    {', '.join(environment['devices'])}",
             f"precision  auto picks {precision['auto']}: {precision['reason']}",
             f"installed  {', '.join(f'{name} {version}' for name, version in environment['installed'].items())}",
             "", "library patches (zoo/compat; --json says what each touches and what switches it on):"]
    width = max(len(patch["name"]) for patch in environment["compat"]) + 2
    for patch in environment["compat"]:
        reason = patch["reason"]
        lines.append(f"  {patch['name']:<{width}}{patch['state']:<16}{reason}".rstrip())
    return lines
