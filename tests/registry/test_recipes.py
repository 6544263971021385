"""Training recipes are registry entries declared by their modality: checked names, strict parameters, lazy runs."""

import sys

import pytest
from pydantic import BaseModel, ValidationError

from embedforge.registry.params import StrictParams
from embedforge.registry.recipes import RECIPES, Recipe, recipe, recipe_names, register_recipe
from embedforge.registry.registry import RegistryError


class Knobs(StrictParams):
    encoder: str = "speech/ge2e"


def test_the_built_in_recipes_are_declared_by_their_modalities():
    assert {"speech/heightceleb", "pathology/slide-head"} <= set(recipe_names())
    hc = recipe("speech/heightceleb")
    assert hc.modality == "speech" and hc.params.__module__ == "embedforge.modalities.speech.recipes"
    assert recipe("pathology/slide-head").params.__module__ == "embedforge.modalities.pathology.recipes"
    assert hc.params().regressor == "pls" and "height" in hc.description


def test_the_training_code_loads_only_when_a_recipe_runs():
    import subprocess

    probe = (
        "import sys; from embedforge.registry.recipes import recipe, recipe_names; recipe_names(); "
        "recipe('speech/heightceleb'); print(sorted(m for m in sys.modules if m.startswith('embedforge.tasks')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.strip() == "[]"  # registering and looking up recipes imports nothing of the tasks layer
    from embedforge.tasks.train import run_heightceleb

    assert recipe("speech/heightceleb").runner() is run_heightceleb


def test_parameters_are_strict_and_free_of_credentials():
    params = recipe("speech/heightceleb").params
    with pytest.raises(ValidationError, match="regressor"):
        params.model_validate({"regressor": "xgboost"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        params.model_validate({"colour": "red"})
    with pytest.raises(ValidationError, match="carries a credential"):
        params.model_validate({"tracking_uri": "postgresql://bob:hunter22@db/mlflow"})


def test_a_bad_entry_is_refused_at_registration():
    with pytest.raises(ValueError, match="MODALITY/NAME"):
        register_recipe(Recipe("heightceleb", Knobs, "x:y"))

    class Loose(BaseModel):
        encoder: str = "x"

    with pytest.raises(TypeError, match="StrictParams"):
        register_recipe(Recipe("speech/loose", Loose, "x:y"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="module:function"):
        register_recipe(Recipe("speech/nocolon", Knobs, "embedforge.tasks.train"))
    with pytest.raises(RegistryError, match="already registered"):
        register_recipe(Recipe("speech/heightceleb", Knobs, "x:y"))
    with pytest.raises(RegistryError, match="did you mean speech/heightceleb"):
        recipe("speech/heightcelb")
    assert "speech/loose" not in RECIPES and "speech/nocolon" not in RECIPES


def test_the_generic_task_validates_before_any_work(tmp_path):
    from embedforge.tasks.recipes import train_recipe

    with pytest.raises(ValidationError, match="regressor"):
        train_recipe(recipe="speech/heightceleb", params={"regressor": "xgboost"}, db_uri=str(tmp_path / "none"),
                     tracking_uri=f"sqlite:///{tmp_path}/ml.db")  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # neither store was touched


def test_cli_options_become_the_recipes_typed_parameters():
    from embedforge.flows.cli.recipes import _typed

    params = recipe("pathology/slide-head").params
    given = _typed(params, {"head": "mil/r2t", "head_params": "epeg_k:15,region_num:8", "alias": "staging"})
    checked = params.model_validate(given)
    assert checked.head_params == {"epeg_k": "15", "region_num": "8"} and checked.alias == "staging"
