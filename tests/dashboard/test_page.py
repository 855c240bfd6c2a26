"""Which sidebar parts each tab shows, derived from what its request reads (issue 20)."""

from __future__ import annotations

import pytest

from app import TABS
from callbacks.page import sections_shown, sidebar_visibility
from layouts.controls import SIDEBAR_CONTROLS, SIDEBAR_SECTIONS
from layouts.ids import ID
from topomap_core.params import declared

SHOWN = sidebar_visibility(TABS)


@pytest.mark.parametrize("tab", TABS, ids=lambda tab: tab.pane.value)
def test_every_sidebar_control_a_tab_shows_feeds_its_request(tab):
    """Shown exactly when the tab's request reads it, and then a field of that request."""
    types = tab.request_type if isinstance(tab.request_type, tuple) else (tab.request_type,)
    assert all(t is not None for t in types), f"{tab.pane.value} declares no request type"
    shown = SHOWN[tab.pane.value]
    for name, component in tab.inputs:
        if component in SIDEBAR_CONTROLS:
            assert component in shown
            for request_type in types:
                assert name in declared(request_type), (tab.pane.value, name, request_type)
    sidebar_inputs = {c for _, c in tab.inputs if c in SIDEBAR_CONTROLS}
    assert set(shown) == sidebar_inputs


def test_the_tabs_that_ignored_sidebar_controls_no_longer_show_them():
    """Issue 20: Evaluate used the sidebar's model with the Model section hidden; Overview
    showed a Layer it ignores; Mapper, Topographic and Train showed Groups, Method and GradNAP
    they ignore; Bias and Evaluate showed the Maps tab's custom group."""
    assert {ID.MODEL_SELECT, ID.LAYER_SELECT} <= set(SHOWN["evaluate"])
    assert ID.METHOD_SELECT not in SHOWN["evaluate"]
    assert ID.MODEL_SELECT in SHOWN["overview"] and ID.LAYER_SELECT not in SHOWN["overview"]
    for tab in ("mapper", "train"):
        assert set(SHOWN[tab]) == {ID.DATA_SELECT, ID.PREPROCESS_INPUT, ID.RESIZE_SELECT,
                                   ID.SEED_INPUT}, tab  # fmt: skip
        assert sections_shown(SHOWN[tab]) == {
            "sidebar-model": False, "sidebar-data": True, "sidebar-groups": False,
            "sidebar-layout": True,
        }  # fmt: skip
    assert ID.METHOD_SELECT not in SHOWN["topographic"]
    assert ID.SELECTION_SELECT not in SHOWN["bias"] and ID.RANDOM_GROUPS not in SHOWN["bias"]
    assert [tab for tab, shown in SHOWN.items() if ID.SELECTION_SELECT in shown] == ["maps"]
    # The Maps tab's request reads every sidebar control.
    assert SHOWN["maps"] == list(SIDEBAR_CONTROLS)
    assert all(sections_shown(SHOWN["maps"]).values())
    assert set(SIDEBAR_SECTIONS) == {"sidebar-model", "sidebar-data", "sidebar-groups",
                                     "sidebar-layout"}  # fmt: skip


def test_a_new_source_resets_what_belonged_to_the_old_one():
    """Issue 20: a link's "No group '7'" warning and a marked neuron carried over to a new
    model; the data message kept the old model's verdict while the new one was checked."""
    from callbacks import maps

    # Opening a link sets the controls to the link's own values: nothing is reset then.
    assert not maps.source_changed("demo:digits-cnn", "demo:digits", "?model=demo:digits-cnn")
    assert not maps.source_changed("demo:digits-mlp", "demo:digits", "")
    # The user picked another model or data than the link names: reset.
    assert maps.source_changed("demo:digits-cnn", "demo:digits", "?model=demo:digits-mlp")
    assert maps.source_changed("demo:digits-mlp", "a" * 64, "?model=demo:digits-mlp")
    import app

    dependencies = app.server.test_client().get("/_dash-dependencies").get_json()

    def inputs(dep):
        return {f"{i['id']}.{i['property']}" for i in dep["inputs"]}

    resets = [d for d in dependencies
              if inputs(d) == {f"{ID.MODEL_SELECT}.value", f"{ID.DATA_SELECT}.value"}
              and "selected-group.data" in d["output"]]  # fmt: skip
    assert resets, "no callback resets the selection when the model or data change"
    for store in (ID.SELECTED_GROUP, ID.MARKED_NEURON, ID.URL_WARNINGS):
        assert f"{store}.data" in resets[0]["output"]
    checking = [d for d in dependencies if d.get("clientside_function")
                and f"{ID.DATA_MESSAGE}.children" in d["output"]
                and f"{ID.MODEL_SELECT}.value" in inputs(d)]  # fmt: skip
    assert checking, "no clientside 'checking…' for the data message"
