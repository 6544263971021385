"""One source of truth for parameters: every CLI option that sets a flow parameter has the parameter model's
default and its description as help text (checked here for every command with a model), and every option says
what it does. The shared options (--db, --tracking-uri, --weights, --label, --target, ...) take their text from
one table, ``embedforge.registry.params.HELP``, so they mean the same in every command."""

from __future__ import annotations

import pytest
import typer

from embedforge.flows import params as P
from embedforge.flows.cli import build_app
from embedforge.registry.params import HELP

# command -> (its parameter model, CLI option -> model field where the names differ; None: CLI-only option)
CASES = {
    "embed": (P.EmbedParams, {"name": "dataset_name", "option": "options", "runner": "runner.kind",
                              "workers": "runner.workers", "dask_address": "runner.dask_address",
                              "max_failures": None}),
    "train head": (P.TrainHeadParams, {"name": "registered_name", "encoder_option": "encoder_options",
                                       "option": None}),
    "train heightceleb": (P.HeightCelebParams, {"name": "registered_name"}),
    "train slides": (P.SlideHeadParams, {"name": "registered_name", "option": "head_params"}),
    "benchmark": (P.BenchmarkParams, {"option": "options", "output": "output_csv"}),
    "analyze": (P.AnalyzeParams, {"map_method": "map", "encoder_option": "encoder_options"}),
}  # fmt: skip


def _command(path: str):
    command = typer.main.get_command(build_app())
    for part in path.split():
        command = command.commands[part]
    return command


def _field(model, dotted: str):
    *outer, last = dotted.split(".")
    for name in outer:
        model = model.model_fields[name].annotation
    return model.model_fields[last]


def _as_model_value(cli_default, model_default):
    """The CLI's spelling of a default as the model holds it: comma lists, KEY=VALUE lists as dicts."""
    if isinstance(model_default, list) and isinstance(cli_default, str | type(None)):
        return [v.strip() for v in (cli_default or "").split(",") if v.strip()]
    if isinstance(model_default, dict) and cli_default == []:
        return {}
    return cli_default


@pytest.mark.parametrize("path", sorted(CASES))
def test_options_carry_the_models_defaults_and_descriptions(path):
    model, renamed = CASES[path]
    for param in _command(path).params:
        assert param.help, f"{path} --{param.name} has no help text"
        name = renamed.get(param.name, param.name)
        if name is None:
            continue
        field = _field(model, name)
        # the CLI may add how to type it: "(comma-separated)", "(KEY=VALUE, repeatable)"
        assert param.help.startswith(field.description), f"{path} --{param.name}: help is not {model.__name__}.{name}"
        if field.is_required():
            continue
        default = field.get_default(call_default_factory=True)
        assert _as_model_value(param.default, default) == default, f"{path} --{param.name}: default differs"


def test_shared_options_mean_the_same_everywhere():
    for path, (model, _) in CASES.items():
        for name, text in HELP.items():
            if name in model.model_fields and (model, name) != (P.BenchmarkParams, "weights"):  # one per encoder
                assert model.model_fields[name].description == text, f"{model.__name__}.{name} ({path})"


def test_label_and_target_mean_the_same_in_train_head_and_benchmark():
    ecg = {"encoder": "cardiac/spectrum", "head": "regress/ridge"}
    assert P.TrainHeadParams(**ecg).learned == "heart_rate"  # the modality's default target, as benchmark uses
    assert P.TrainHeadParams(**ecg, target="rr_ms").learned == "rr_ms"
    assert P.TrainHeadParams(**ecg, label="qt_ms").learned == "qt_ms"  # an explicit --label, as before --target
    assert P.TrainHeadParams(encoder="cardiac/spectrum", label="rhythm").learned == "rhythm"
    with pytest.raises(ValueError, match="--target 'heart_rate' is what regress/\\* heads learn"):
        P.TrainHeadParams(encoder="cardiac/spectrum", head="classify/logreg", target="heart_rate")


def test_one_option_may_hold_several_pairs_and_values_keep_their_commas():
    from embedforge.flows.cli.core import key_values

    assert key_values(["text=review,label=stars", "id=doc"]) == {"text": "review", "label": "stars", "id": "doc"}
    assert key_values(["classes=a,b", "heights=f:1.6,m:1.8"]) == {"classes": "a,b", "heights": "f:1.6,m:1.8"}
    with pytest.raises(typer.BadParameter, match="expected KEY=VALUE, got 'review'"):
        key_values(["review"])
