"""Component ids, shared by layouts, callbacks and browser tests."""

from __future__ import annotations

from enum import StrEnum


class ID(StrEnum):
    """Every component id of the dashboard."""

    URL = "url"

    # Model and data
    MODEL_UPLOAD = "model-upload"
    MODEL_SELECT = "model-select"
    MODEL_MESSAGE = "model-message"
    DATA_UPLOAD = "data-upload"
    DATA_SELECT = "data-select"
    DATA_MESSAGE = "data-message"
    LAYER_SELECT = "layer-select"

    # Grouping and method
    GROUPS_SELECT = "groups-select"
    RANDOM_GROUPS = "random-groups"
    PER_GROUP = "per-group"
    METHOD_SELECT = "method-select"
    SEED_INPUT = "seed-input"

    # Running
    RUN_BUTTON = "run-button"
    CANCEL_BUTTON = "cancel-button"
    PROGRESS_BAR = "progress-bar"
    PROGRESS_TEXT = "progress-text"
    STATUS = "status"

    # State
    RESULT_STORE = "result-store"
    SELECTED_GROUP = "selected-group"
    MARKED_NEURON = "marked-neuron"
    URL_WARNINGS = "url-warnings"
    LINK_LAYER = "link-layer"

    # Views
    MAPS_GRAPH = "maps-graph"
    DENDROGRAM_GRAPH = "dendrogram-graph"
    SCATTER_GRAPH = "scatter-graph"
    SELECTED_MAP_GRAPH = "selected-map-graph"
    METRICS_TABLE = "metrics-table"

    # Share and export
    SHARE_LINK = "share-link"
    COPY_LINK = "copy-link"
    EXPORT_PNG = "export-png"
    EXPORT_SVG = "export-svg"
    EXPORT_LAYOUT_CSV = "export-layout-csv"
    EXPORT_NAP_CSV = "export-nap-csv"
    EXPORT_SUMMARY = "export-summary"
    DOWNLOAD = "download"
