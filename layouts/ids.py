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

    # Tabs of the main area (Maps, Training, Compare)
    TABS = "tabs"
    SIDEBAR = "sidebar"
    CONTENT = "content"

    # Training tab: checkpoints, run, view, export
    TRAIN_CHECKPOINTS = "train-checkpoints"
    TRAIN_UPLOAD = "train-upload"
    TRAIN_MESSAGE = "train-message"
    TRAIN_BASE_FIELD = "train-base-field"
    TRAIN_BASE_MODEL = "train-base-model"
    TRAIN_LAYER = "train-layer"
    TRAIN_RUN = "train-run"
    TRAIN_CANCEL = "train-cancel"
    TRAIN_PROGRESS_BAR = "train-progress-bar"
    TRAIN_PROGRESS_TEXT = "train-progress-text"
    TRAIN_STATUS = "train-status"
    TRAIN_RESULT = "train-result"
    TRAIN_LINK = "train-link"
    TRAIN_SLIDER = "train-slider"
    TRAIN_PLAY = "train-play"
    TRAIN_SPEED = "train-speed"
    TRAIN_INTERVAL = "train-interval"
    TRAIN_STEP_LABEL = "train-step-label"
    TRAIN_MAPS_GRAPH = "train-maps-graph"
    TRAIN_CHANGE_GRAPH = "train-change-graph"
    TRAIN_EXPORT_GIF = "train-export-gif"
    TRAIN_EXPORT_MP4 = "train-export-mp4"
    TRAIN_EXPORT_CSV = "train-export-csv"
    TRAIN_DOWNLOAD = "train-download"

    # Compare tab
    COMPARE_MODE = "compare-mode"
    COMPARE_MODELS_FIELDS = "compare-models-fields"
    COMPARE_STATES_FIELDS = "compare-states-fields"
    COMPARE_UPLOAD = "compare-upload"
    COMPARE_MODEL_A = "compare-model-a"
    COMPARE_LAYER_A = "compare-layer-a"
    COMPARE_MODEL_B = "compare-model-b"
    COMPARE_LAYER_B = "compare-layer-b"
    COMPARE_STATE_A = "compare-state-a"
    COMPARE_STATE_B = "compare-state-b"
    COMPARE_MESSAGE = "compare-message"
    COMPARE_RUN = "compare-run"
    COMPARE_CANCEL = "compare-cancel"
    COMPARE_PROGRESS_BAR = "compare-progress-bar"
    COMPARE_PROGRESS_TEXT = "compare-progress-text"
    COMPARE_STATUS = "compare-status"
    COMPARE_RESULT = "compare-result"
    COMPARE_LINK = "compare-link"
    COMPARE_GRAPH = "compare-graph"
