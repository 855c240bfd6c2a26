"""Component ids of the page's shared parts and the Maps tab, and the ids of a tab's job.

Every other tab keeps its own ids in its layouts module (``layouts.training.TrainingIds``), so
a new tab adds its ids where its components are built. Layouts, callbacks and browser tests
share these constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ID(StrEnum):
    """Component ids of the header, sidebar, share bar, tabs and the Maps tab."""

    URL = "url"

    # Model and data
    MODEL_UPLOAD = "model-upload"
    MODEL_SELECT = "model-select"
    MODEL_MESSAGE = "model-message"
    DATA_UPLOAD = "data-upload"
    DATA_SELECT = "data-select"
    DATA_MESSAGE = "data-message"
    PREPROCESS_INPUT = "preprocess-input"
    PREPROCESS_PRESETS = "preprocess-presets"
    RESIZE_SELECT = "resize-select"
    LAYER_SELECT = "layer-select"

    # Grouping and method
    GROUPS_SELECT = "groups-select"
    RANDOM_GROUPS = "random-groups"
    PER_GROUP = "per-group"
    METHOD_SELECT = "method-select"
    SEED_INPUT = "seed-input"
    SELECTION_SELECT = "selection-select"
    NAP_SELECT = "nap-select"
    NAP_CLASS_SELECT = "nap-class-select"

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
    URL_NOTICE = "url-notice"
    URL_NOTICE_TEXT = "url-notice-text"
    URL_NOTICE_CLOSE = "url-notice-close"
    LINK_LAYER = "link-layer"

    # Views
    MAPS_GRAPH = "maps-graph"
    DENDROGRAM_GRAPH = "dendrogram-graph"
    SCATTER_GRAPH = "scatter-graph"
    SELECTED_MAP_GRAPH = "selected-map-graph"
    METRICS_TABLE = "metrics-table"
    MAPS_NOTES = "maps-notes"
    MAPS_PAGER = "maps-pager"
    MAPS_PAGE = "maps-page"

    # Share and export
    SHARE_LINK = "share-link"
    COPY_LINK = "copy-link"
    EXPORT_PNG = "export-png"
    EXPORT_SVG = "export-svg"
    EXPORT_LAYOUT_CSV = "export-layout-csv"
    EXPORT_NAP_CSV = "export-nap-csv"
    EXPORT_SUMMARY = "export-summary"
    DOWNLOAD = "download"

    # Tabs of the main area (Maps, Training, Compare, Mapper)
    TABS = "tabs"
    SIDEBAR = "sidebar"
    CONTENT = "content"


@dataclass(frozen=True)
class JobIds:
    """The components of a tab's job: Run, Cancel, progress bar and text, status, result."""

    run: str
    cancel: str
    bar: str
    text: str
    status: str
    result: str

    @classmethod
    def prefixed(cls, prefix: str) -> JobIds:
        """``<prefix>-run``, ``<prefix>-cancel``, ``<prefix>-progress-bar``, ...``-result``."""
        return cls(
            f"{prefix}-run",
            f"{prefix}-cancel",
            f"{prefix}-progress-bar",
            f"{prefix}-progress-text",
            f"{prefix}-status",
            f"{prefix}-result",
        )


#: The Maps tab's job (its Run panel is in the sidebar).
MAPS_JOB = JobIds(
    ID.RUN_BUTTON, ID.CANCEL_BUTTON, ID.PROGRESS_BAR, ID.PROGRESS_TEXT, ID.STATUS, ID.RESULT_STORE
)
