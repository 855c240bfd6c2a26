"""Share and export bar: the link to this exact view, and downloads of the result."""

from __future__ import annotations

from dash import dcc, html

from .ids import ID

#: (id, button text, tooltip) of every export button.
EXPORTS: tuple[tuple[str, str, str], ...] = (
    (ID.EXPORT_PNG, "Maps PNG", "All maps with titles and colour bar, as an image"),
    (ID.EXPORT_SVG, "Maps SVG", "The same maps as vectors (scalable, editable)"),
    (ID.EXPORT_LAYOUT_CSV, "Layout CSV", "neuron, x, y of every neuron"),
    (ID.EXPORT_NAP_CSV, "NAP CSV", "One row per group, one column per neuron"),
    (ID.EXPORT_SUMMARY, "Summary JSON", "Settings, group sizes, quality metrics and timings"),
)


def build() -> html.Section:
    """The link (with a copy button) and one button per export, plus the download target."""
    link = html.Div(
        [
            html.Span("Link to this view", className="share-label"),
            html.Div(
                [
                    html.A("", id=ID.SHARE_LINK, href="", className="share-link"),
                    dcc.Clipboard(
                        id=ID.COPY_LINK,
                        target_id=ID.SHARE_LINK,
                        title="Copy the link",
                        className="copy-link",
                    ),
                ],
                className="share-row",
            ),
        ],
        className="share",
    )
    buttons = html.Div(
        [html.Span("Export", className="share-label")]
        + [
            html.Button(text, id=bid, title=tip, className="btn btn-small", disabled=True)
            for bid, text, tip in EXPORTS
        ],
        className="exports",
    )
    return html.Section([link, buttons, dcc.Download(id=ID.DOWNLOAD)], className="share-bar")
