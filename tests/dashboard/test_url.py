"""URL query <-> control values <-> the view's request (callbacks/url.py, the Maps tab's
links), as plain functions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from app import TABS
from callbacks import url
from callbacks.maps import LINKS, view_request
from callbacks.url import share_link
from layouts.controls import DEFAULTS as VIEW_DEFAULTS
from topomap_core.analyses.topomap import MAX_SEED
from topomap_core.analyses.view import ViewRequest as MapRequest
from topomap_core.errors import TopomapError
from topomap_core.params import coerce_int
from topomap_core.placement import available_methods, get_method

HEX = "ab" * 32
#: The keys of the Maps tab's controls (every Maps link key but the selected group).
KEYS = [link.key for link in LINKS if link.key != "group"]
DEFAULTS = {key: VIEW_DEFAULTS[key] for key in KEYS}


@dataclass
class Parsed:
    values: dict
    warnings: list


def parse_query(search, known_models=None, known_data=None):
    """The Maps keys (and ``group``) of a link, as the page reads them."""
    known = {"model": known_models, "data": known_data}
    parsed = url.parse_query(search, TABS, {k: v for k, v in known.items() if v is not None})
    return Parsed({k: parsed.values[k] for k in (*KEYS, "group")}, parsed.warnings)


def to_query(values):
    return url.to_query(values, TABS)


def build_request(values):
    return view_request(values)[1]


def request_values(request):
    return {key: getattr(request, key) for key in KEYS}


def canonical_method(name):
    return get_method(name.strip()).name


def test_empty_query_gives_the_demo_defaults():
    parsed = parse_query("")
    assert parsed.warnings == []
    assert parsed.values == {**DEFAULTS, "group": None}
    assert parsed.values["model"] == "demo:digits-mlp"
    assert parsed.values["layer"] == "dense"
    assert parsed.values["method"] == "UMAP_PSO"
    assert parse_query(None).values == parsed.values


def test_round_trip_of_every_key():
    values = {
        "model": HEX,
        "data": "cd" * 32,
        "layer": "backbone/conv2",
        "preprocess": "0.00392156863:-1",
        "resize": "bilinear",
        "groups": "label+correctness",
        "random_groups": 3,
        "per_group": 50,
        "method": "TSNE_PSO",
        "seed": 42,
        "selection": "ef" * 32,
        "nap": "grad",
        "nap_class": "predicted",
        "group": "3:wrong",
    }
    search = to_query(values)
    assert search.startswith("?model=")
    assert "label%2Bcorrectness" in search  # a literal "+" would read back as a space
    parsed = parse_query(search)
    assert parsed.warnings == []
    assert parsed.values == values


def test_query_without_question_mark_and_group_left_out():
    search = to_query({**DEFAULTS, "group": None})
    assert "&group=" not in search
    assert parse_query(search.lstrip("?")).values == {**DEFAULTS, "group": None}


@pytest.mark.parametrize("name", ["umap_pso", "Umap_Pso", "UMAP_PSO", " pca "])
def test_method_is_case_insensitive_and_canonical(name):
    parsed = parse_query(f"?method={name}")
    assert parsed.warnings == []
    assert parsed.values["method"] == canonical_method(name)
    assert parsed.values["method"] in available_methods()


def test_unknown_method_falls_back_with_a_warning():
    parsed = parse_query("?method=foo&seed=3")
    assert parsed.values["method"] == "UMAP_PSO"
    assert parsed.values["seed"] == 3
    assert len(parsed.warnings) == 1
    assert "Ignored unknown method 'foo' in the link" in parsed.warnings[0]


@pytest.mark.parametrize(
    ("query", "key", "words"),
    [
        ("seed=-1", "seed", "between 0"),
        (f"seed={MAX_SEED + 1}", "seed", "between 0"),
        ("seed=abc", "seed", "not a whole number"),
        ("seed=1.5", "seed", "not a whole number"),
        ("per_group=0", "per_group", "between 1"),
        ("random_groups=-2", "random_groups", "between 0"),
        ("random_groups=1e3", "random_groups", "not a whole number"),
        ("groups=everything", "groups", "unknown grouping"),
        ("layer=", "layer", "not a valid name"),
        ("group=%0Abad", "group", "not a valid name"),
    ],
)
def test_bad_values_fall_back_with_a_warning(query, key, words):
    parsed = parse_query("?" + query)
    assert parsed.values[key] == {**DEFAULTS, "group": None}[key]
    assert len(parsed.warnings) == 1
    assert words in parsed.warnings[0]
    assert parsed.warnings[0].startswith("Ignored")


@pytest.mark.parametrize(
    "ref",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "cache/models/x.keras",
        "demo:../../x",
        "demo:digits-rnn",
        HEX.upper(),  # ids are lower-case hex, as the store writes them
        HEX[:-1],
        HEX + "0",
        "C:\\models\\m.keras",
    ],
)
def test_model_and_data_ids_never_become_paths(ref):
    parsed = parse_query(to_query({"model": ref, "data": ref}))
    assert parsed.values["model"] == DEFAULTS["model"]
    assert parsed.values["data"] == DEFAULTS["data"]
    assert len(parsed.warnings) == 2
    assert any("unknown model" in w for w in parsed.warnings)
    with pytest.raises(TopomapError, match="nknown model"):
        build_request({**DEFAULTS, "model": ref})


def test_well_formed_id_not_in_the_store_is_ignored_when_known_ids_given():
    parsed = parse_query(f"?model={HEX}", known_models=set(), known_data=set())
    assert parsed.values["model"] == DEFAULTS["model"]
    assert "not stored on this server" in parsed.warnings[0]
    assert parse_query(f"?model={HEX}", known_models={HEX}).values["model"] == HEX


def test_unknown_parameter_and_repeated_key():
    parsed = parse_query("?seed=1&seed=2&colour=red")
    assert parsed.values["seed"] == 1
    assert parsed.warnings == ["Ignored unknown parameter 'colour' in the link"]


def test_long_values_are_shortened_in_warnings():
    parsed = parse_query("?method=" + "x" * 5000)
    assert len(parsed.warnings[0]) < 200


@pytest.mark.parametrize(("raw", "expected"), [(3, 3), (3.0, 3), ("7", 7), (" 8 ", 8)])
def test_coerce_int_accepts_whole_numbers(raw, expected):
    assert coerce_int(raw) == expected


@pytest.mark.parametrize("raw", [None, True, 2.5, "2.5", "", "x", [1], "1" * 20])
def test_coerce_int_refuses_the_rest(raw):
    assert coerce_int(raw) is None


def test_build_request_from_controls():
    request = build_request({**DEFAULTS, "method": "pca", "seed": 4.0, "per_group": 30})
    assert request == MapRequest(
        model="demo:digits-mlp", data="demo:digits", layer="dense", per_group=30, method="PCA",
        seed=4,
    )  # fmt: skip
    assert request_values(request) == {**DEFAULTS, "method": "PCA", "seed": 4, "per_group": 30}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"layer": None}, "Choose a layer"),
        ({"model": ""}, "Choose a model"),
        ({"seed": None}, "Enter the seed"),
        ({"seed": -1}, "Seed -1"),
        ({"per_group": 0}, "between 1"),
        ({"random_groups": 2.5}, "not a whole number"),
        ({"method": "nope"}, "choose one of random, baseline, PSO"),
        ({"groups": "x"}, "nknown grouping"),
    ],
)
def test_build_request_names_the_bad_value(change, match):
    with pytest.raises(TopomapError, match=match):
        build_request({**DEFAULTS, **change})


def test_share_link_keeps_host_and_path_and_replaces_query():
    link = share_link("http://example.org:8050/app/?old=1#frag", "?seed=2")
    assert link == "http://example.org:8050/app/?seed=2"
    assert share_link(None, "?seed=2") == "?seed=2"


def test_an_address_that_is_no_address_is_a_notice_and_one_that_is_no_text_a_bad_request(
    tmp_path,
):
    # Issue 20 item 7: both answered 500 (urlsplit raised).
    from werkzeug.exceptions import BadRequest

    parsed = url.read_link("http://[::1/?seed=3", TABS, tmp_path)
    assert parsed.warnings == ["Ignored the link (it is not a valid address)"]
    assert parsed.values == url.parse_query("", TABS).values
    assert share_link("http://[::1/?seed=3", "?seed=2") == "?seed=2"
    for forged in (12345, ["x"], {"href": "x"}):
        with pytest.raises(BadRequest, match="url.href. must be a string"):
            url.read_link(forged, TABS, tmp_path)
        with pytest.raises(BadRequest):
            share_link(forged, "?seed=2")


@pytest.mark.parametrize("raw", ["label+correctness", "label%2Bcorrectness"])
def test_hand_typed_plus_in_grouping_is_understood(raw):
    parsed = parse_query(f"?groups={raw}")
    assert parsed.values["groups"] == "label+correctness" and not parsed.warnings


def test_link_problems_are_one_notice():
    """Issue 12 item 22: every ignored parameter was one more status line; now one notice
    (warning colour, dismissible: layouts.page.url_notice) says how many, then lists them."""
    assert url.link_notice([]) is None
    one = url.link_notice(["Ignored unknown method 'foo' in the link; using UMAP_PSO"])
    assert one[0].children == "The link had a problem: " and one[1].endswith("UMAP_PSO.")
    parsed = url.parse_query("?method=foo&seed=-1&colour=red&per_group=x", TABS)
    many = url.link_notice(parsed.warnings)
    assert many[0].children == "The link had 4 problems; defaults are used instead:"
    assert len(many[1].children) == 4


def test_the_notice_is_in_warning_colour_and_can_be_dismissed():
    from layouts.ids import ID
    from layouts.page import url_notice

    notice = url_notice()
    assert "msg-warning" in notice.className and notice.hidden is True
    assert notice.children[1].id == ID.URL_NOTICE_CLOSE


def test_every_url_key_sets_one_control_and_a_clash_is_refused():
    """Two tabs may share a key only for the same control: a clash would silently drop the
    second tab's value (the Train tab's layer once used the Training tab's ``train_layer``)."""
    links = url.all_links(TABS)
    keys = [link.key for link in links]
    assert len(keys) == len(set(keys))
    assert {"topotrain_model", "topotrain_layer", "grid", "strength", "mode"} <= set(keys)
    clash = dataclasses.replace(TABS[-1], links=(url.Link("layer", lambda raw: (raw, None), "x",
                                                          "some-other-control"),))  # fmt: skip
    with pytest.raises(ValueError, match="URL key 'layer' of tab .* is already used for"):
        url.all_links((*TABS, clash))
