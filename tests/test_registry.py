"""The registry: names, presets, overrides, and errors that list what is known."""

import subprocess

import pytest

from conftest import PYTHON
from zoo.registry import WRITE_CATALOGUE, RegistryError, build_catalogue, catalogue, create_model, get_spec, list_models


def test_unknown_model_lists_known_models():
    with pytest.raises(RegistryError, match="unknown model 'gru'.*char_lm.*lstm_classifier"):
        create_model("gru")


def test_unknown_preset_lists_known_presets():
    with pytest.raises(RegistryError, match="unknown preset 'huge'.*default, tiny"):
        create_model("lstm_classifier", "huge")


def test_unknown_option_is_refused():
    with pytest.raises(RegistryError, match="unknown option.*unitz"):
        create_model("lstm_classifier", "tiny", unitz=3)


def test_none_overrides_keep_the_preset():
    spec = get_spec("lstm_classifier")
    assert spec.resolve("tiny", units=None, dropout=None) == spec.presets["tiny"]
    assert spec.resolve("tiny", units=5)["units"] == 5


def test_overrides_reach_the_model():
    model = create_model("lstm_classifier", "tiny", units=5, num_layers=3, bidirectional=True)
    names = [layer.name for layer in model.layers]
    assert names[1:4] == ["bidirectional_lstm_1", "bidirectional_lstm_2", "bidirectional_lstm_3"]
    assert model.get_layer("bidirectional_lstm_1").forward_layer.units == 5


def test_every_model_has_tiny_and_default_presets():
    for name in list_models():
        assert {"tiny", "default"} <= set(get_spec(name).presets)


def test_the_catalogue_matches_every_built_family_and_preset():
    """`zoo list` reads the families, presets and parameter counts from zoo/models/catalogue.json
    without building anything; here every preset is built and counted on this backend."""
    assert catalogue() == build_catalogue(), f"zoo/models/catalogue.json is stale; rewrite it with {WRITE_CATALOGUE}"


def test_the_readme_lists_exactly_the_registered_families():
    """The landing page's family table (and its count in words) follows the registry."""
    import re

    from conftest import REPO

    readme = open(f"{REPO}/README.md", encoding="utf-8").read()
    table = readme[readme.index("| model | what it is |"):readme.index("## Pretrained models")]
    listed = {name for row in table.splitlines()[2:] if row.startswith("|")
              for name in re.findall(r"`([a-z_0-9]+)`", row.split("|")[1])}
    assert listed == set(list_models())
    words = ["Ten", "Eleven", "Twelve", "Thirteen", "Fourteen", "Fifteen"]
    assert f"{words[len(list_models()) - 10]} families" in readme


def test_importing_zoo_does_not_import_keras(python_env):
    code = "import sys, zoo, zoo.cli; assert 'keras' not in sys.modules, 'keras imported'"
    subprocess.run([PYTHON, "-c", code], check=True, env=python_env)
