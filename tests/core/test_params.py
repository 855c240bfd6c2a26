"""Declared parameters: one declaration gives validation, CLI options, bounds and defaults."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from topomap_core import params
from topomap_core.analyses.topomap import MAX_PER_GROUP, MapParams
from topomap_core.analyses.view import ViewRequest
from topomap_core.errors import TopomapError

HEX = "ab" * 32


def test_defaults_are_the_dashboards_plain_load():
    assert params.defaults(ViewRequest) == {
        "data": "demo:digits",
        "preprocess": "auto",
        "resize": "none",
        "layer": "dense",
        "groups": "label",
        "random_groups": 0,
        "per_group": 200,
        "method": "UMAP_PSO",
        "seed": 0,
        "profile": "paper",
        "metric": "cosine",
        "nap": "mean",
        "nap_class": "true",
        "layout_input": "nap",
        "model": "demo:digits-mlp",
        "selection": None,
    }
    assert params.validate(ViewRequest, {}) == ViewRequest()


@pytest.mark.parametrize(
    ("field", "raw", "value"),
    [
        ("method", " umap_pso ", "UMAP_PSO"),
        ("groups", "label correctness", "label+correctness"),  # a typed "+" in a URL
        ("seed", "7", 7),
        ("seed", 7.0, 7),
        ("per_group", MAX_PER_GROUP, MAX_PER_GROUP),
        ("model", HEX, HEX),
        ("model", "demo:digits-cnn", "demo:digits-cnn"),
        ("layer", "backbone/conv2", "backbone/conv2"),
    ],
)
def test_good_values_are_cleaned(field, raw, value):
    assert params.check(ViewRequest, field, raw) == (value, None)


@pytest.mark.parametrize(
    ("field", "raw", "words"),
    [
        ("method", "umap-pso", "unknown method 'umap-pso'"),
        ("groups", "colour", "unknown grouping 'colour' (use one of label, label+correctness"),
        ("seed", -1, "seed -1 (must be between 0 and 4294967295)"),
        ("seed", "1.5", "seed '1.5' (not a whole number)"),
        ("seed", True, "seed 'True' (not a whole number)"),
        ("per_group", 0, "examples per group 0 (must be between 1 and 100000)"),
        ("model", "../../etc/passwd", "unknown model '../../etc/passwd'"),
        ("model", "/tmp/x.keras", "not a demo model nor an uploaded model id"),
        ("data", "demo:other", "unknown data 'demo:other'"),
        ("layer", "", "layer '' (not a valid name)"),
        ("layer", "a\nb", "(not a valid name)"),
    ],
)
def test_bad_values_name_the_value_and_what_is_valid(field, raw, words):
    value, problem = params.check(ViewRequest, field, raw)
    assert value is None and words in problem


def test_validate_names_the_first_bad_value_and_lists_methods():
    listed = r"^Unknown method 'x'; choose one of random, baseline, PSO"
    with pytest.raises(TopomapError, match=listed):
        params.validate(ViewRequest, {"method": "x"})
    with pytest.raises(TopomapError, match="^Choose a layer$"):
        params.validate(ViewRequest, {"layer": ""})
    with pytest.raises(TopomapError, match="^Enter the seed$"):
        params.validate(ViewRequest, {"seed": None})


def test_paths_are_references_only_on_the_command_line():
    with pytest.raises(TopomapError, match="nknown model"):
        params.validate(ViewRequest, {"model": "m.keras"})
    request = params.validate(ViewRequest, {"model": "m.keras", "data": "d.npz"}, paths=True)
    assert (request.model, request.data) == ("m.keras", "d.npz")
    message = r"nknown demo model 'demo:vgg' \(valid: demo:digits-mlp"
    with pytest.raises(TopomapError, match=message):
        params.validate(ViewRequest, {"model": "demo:vgg"}, paths=True)


def test_cli_options_come_from_the_declarations():
    parser = argparse.ArgumentParser()
    params.add_arguments(parser, ViewRequest)
    flags = {a.dest: a for a in parser._actions if a.dest != "help"}
    assert set(flags) == set(params.declared(ViewRequest)) - {"metric"}  # metric: no CLI option
    assert flags["per_group"].option_strings == ["--per-group"]
    assert flags["layer"].required and flags["model"].required and flags["data"].required
    assert not flags["seed"].required and flags["seed"].default == 0
    assert "default UMAP_PSO" in flags["method"].help and "TSNE_PSO" in flags["method"].help
    args = parser.parse_args(["--model", "m.keras", "--data", "demo:digits", "--layer", "d"])
    request = params.from_arguments(ViewRequest, args)
    assert request.model == "m.keras" and request.per_group == 200


def test_bounds_are_the_intervals():
    assert params.bounds(ViewRequest, "seed") == (0, 2**32 - 1)
    assert params.bounds(ViewRequest, "random_groups") == (0, 100)
    with pytest.raises(TypeError):
        params.bounds(ViewRequest, "method")


def test_map_params_are_declared_once_and_shared():
    from topomap_core.analyses.compare import CompareRequest
    from topomap_core.analyses.training_maps import TrainingRequest

    shared = [f.name for f in dataclasses.fields(MapParams)]
    assert len(shared) == 14  # nap, nap_class (GradNAP), layout_input, preprocess, resize
    for cls in (ViewRequest, TrainingRequest, CompareRequest):
        assert issubclass(cls, MapParams)
        assert [name for name in params.declared(cls) if name in shared] == shared
    with pytest.raises(dataclasses.FrozenInstanceError):
        ViewRequest().seed = 3  # requests are values: a cache key cannot change under them
