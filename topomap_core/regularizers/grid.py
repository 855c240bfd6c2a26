"""The geometry of a topographic grid (Krug & Stober, section 2.1), in NumPy only.

A layer's units (a Dense layer's units, a convolution's output channels) sit on a grid of
``rows x cols`` cells, unit ``i`` at row ``i // cols`` and column ``i % cols``; a grid with more
cells than units leaves the last cells empty. Each unit's neighbourhood is the ``n x n`` window
around it (3 x 3 in the paper), clipped at the border and without the empty cells; its members
are weighted by the reciprocal Euclidean grid distance to the centre, normalised to sum to 1
per neighbourhood. The Keras regularizer (:mod:`.topographic`), the measurements and the
``grid`` layout all read the pairs and positions from here, so they agree by construction.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = [
    "DEFAULT_NEIGHBOURHOOD",
    "GRID_RE",
    "MAX_NEIGHBOURHOOD",
    "MAX_SIDE",
    "auto_grid",
    "check_grid",
    "grid_layout",
    "grid_positions",
    "grid_text",
    "neighbour_pairs",
    "neighbour_similarity",
    "offset_weights",
    "parse_grid",
    "shuffled_similarity",
]

#: The paper's neighbourhood: 3 x 3.
DEFAULT_NEIGHBOURHOOD = 3
#: Largest neighbourhood side (odd); pairs grow as n^2 per unit.
MAX_NEIGHBOURHOOD = 9
#: Longest grid side accepted (a request or a model file is untrusted input).
MAX_SIDE = 4096

#: ``"16x8"`` (also ``16X8``, ``16×8``, blanks around the numbers).
GRID_RE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


def parse_grid(text: str) -> tuple[int, int]:
    """``(rows, cols)`` of ``"RxC"``.

    Raises
    ------
    ValueError
        Not of the form ``RxC``, or a side outside 2..:data:`MAX_SIDE`.
    """
    match = GRID_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"grid {str(text)[:40]!r} is not of the form RxC (e.g. 16x8) or auto")
    rows, cols = int(match.group(1)), int(match.group(2))
    check_sides(rows, cols)
    return rows, cols


def check_sides(rows: int, cols: int) -> None:
    """Refuse a side outside 2..:data:`MAX_SIDE` (a one-row grid is a line, not a map)."""
    for name, side in (("rows", rows), ("columns", cols)):
        if not 2 <= side <= MAX_SIDE:
            raise ValueError(f"grid {rows}x{cols}: {name} must be between 2 and {MAX_SIDE}")


def grid_text(rows: int, cols: int) -> str:
    """``"16x8"``."""
    return f"{rows}x{cols}"


def auto_grid(n_units: int) -> tuple[int, int]:
    """The grid chosen for ``n_units`` units when none is given: ``(rows, cols)``.

    The most square ``rows x cols == n_units`` with ``cols <= rows <= 2 * cols`` (the paper's
    16x16 for 256 units and 64x32 for 2048; 16x8 for 128); when ``n_units`` has no such
    factors (a prime), the smallest square-ish grid that holds them, its last cells empty.
    """
    if n_units < 2:
        raise ValueError(f"a topographic grid needs at least 2 units, got {n_units}")
    cols = next(c for c in range(math.isqrt(n_units), 0, -1) if n_units % c == 0)
    rows = n_units // cols
    if cols >= 2 and rows <= 2 * cols:
        return rows, cols
    rows = max(2, math.ceil(math.sqrt(n_units)))
    return rows, max(2, math.ceil(n_units / rows))


def check_grid(rows: int, cols: int, n_units: int, where: str = "the layer") -> None:
    """Refuse a grid that cannot hold ``n_units`` units, naming both."""
    check_sides(rows, cols)
    if rows * cols < n_units:
        raise ValueError(
            f"grid {rows}x{cols} holds {rows * cols} units but {where} has {n_units}; "
            f"choose rows x cols >= {n_units} (auto: {grid_text(*auto_grid(n_units))})"
        )


def check_neighbourhood(size: int) -> None:
    """Refuse a neighbourhood side that is even or outside 3..:data:`MAX_NEIGHBOURHOOD`."""
    if not (isinstance(size, int) and 3 <= size <= MAX_NEIGHBOURHOOD and size % 2 == 1):
        raise ValueError(
            f"neighbourhood {size!r} must be an odd whole number from 3 to {MAX_NEIGHBOURHOOD}"
        )


def grid_positions(n_units: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """``(row, col)`` of every unit: ``i // cols`` and ``i % cols`` (int arrays of n_units)."""
    index = np.arange(n_units)
    return index // cols, index % cols


def _offset_weights(
    n_units: int, rows: int, cols: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(dr, dc, weight, valid)``: the neighbourhood's offsets (the centre left out) and, per
    unit and offset, the normalised weight (0 where the member is outside or empty)."""
    check_grid(rows, cols, n_units)
    check_neighbourhood(size)
    half = size // 2
    dr, dc = np.meshgrid(np.arange(-half, half + 1), np.arange(-half, half + 1), indexing="ij")
    keep = (dr != 0) | (dc != 0)
    dr, dc = dr[keep], dc[keep]
    row, col = grid_positions(n_units, cols)
    r = row[:, None] + dr[None, :]
    c = col[:, None] + dc[None, :]
    # Clipped at the border, and the empty cells after the last unit are no members.
    valid = (r >= 0) & (r < rows) & (c >= 0) & (c < cols) & (r * cols + c < n_units)
    weight = np.where(valid, 1.0 / np.hypot(dr, dc)[None, :], 0.0)
    total = weight.sum(axis=1, keepdims=True)
    weight = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    return dr, dc, weight, valid


def neighbour_pairs(
    n_units: int, rows: int, cols: int, size: int = DEFAULT_NEIGHBOURHOOD
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (centre, member) pair of the neighbourhoods and its weight.

    Parameters
    ----------
    n_units : int
    rows, cols : int
        The grid (``rows * cols >= n_units``).
    size : int
        Side of the square neighbourhood (odd).

    Returns
    -------
    centre, member : ndarray of int, shape (n_pairs,)
        Unit indices; the centre itself is not its own member.
    weight : ndarray of float64, shape (n_pairs,)
        ``1 / |grid distance|``, normalised to sum to 1 over each centre's members.
    """
    dr, dc, weight, valid = _offset_weights(n_units, rows, cols, size)
    centre = np.broadcast_to(np.arange(n_units)[:, None], valid.shape)
    member = centre + dr[None, :] * cols + dc[None, :]
    return centre[valid], member[valid], weight[valid]


def offset_weights(
    n_units: int, rows: int, cols: int, size: int = DEFAULT_NEIGHBOURHOOD
) -> list[tuple[int, int, np.ndarray]]:
    """The neighbourhood as shifts of the grid: ``(dr, dc, weight)`` per offset, ``weight``
    of shape (rows, cols) holding each centre cell's weight for the member at
    ``(row + dr, col + dc)`` (0 where there is none). Offsets no unit uses are left out.

    The same weights as :func:`neighbour_pairs`, laid out for a penalty computed by shifting
    the grid of vectors (slices and products; their gradients are slices too).
    """
    dr, dc, weight, _ = _offset_weights(n_units, rows, cols, size)
    full = np.zeros((rows * cols, len(dr)))
    full[:n_units] = weight
    return [
        (int(dr[k]), int(dc[k]), full[:, k].reshape(rows, cols))
        for k in range(len(dr))
        if full[:, k].any()
    ]


def _unit_vectors(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    v = v.reshape(-1, v.shape[-1])
    norms = np.linalg.norm(v, axis=0, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


def neighbour_similarity(
    vectors: np.ndarray, rows: int, cols: int, size: int = DEFAULT_NEIGHBOURHOOD
) -> float:
    """Mean neighbour cosine similarity on the grid: per unit, the weighted mean cosine of its
    neighbourhood's members to it, averaged over units.

    Parameters
    ----------
    vectors : ndarray of shape (..., n_units)
        One vector per unit on the last axis (a kernel: a Dense ``(in, units)`` or a
        convolution's ``(kh, kw, in, out)``; or activations).
    """
    v = _unit_vectors(vectors)
    centre, member, weight = neighbour_pairs(v.shape[1], rows, cols, size)
    cos = np.einsum("ij,ij->j", v[:, centre], v[:, member])
    return float(np.sum(weight * cos) / len(np.unique(centre)))


def shuffled_similarity(
    vectors: np.ndarray,
    rows: int,
    cols: int,
    size: int = DEFAULT_NEIGHBOURHOOD,
    n_shuffles: int = 20,
    random_state: int = 0,
) -> float:
    """:func:`neighbour_similarity` of the same vectors in random positions (the control),
    averaged over ``n_shuffles`` permutations."""
    v = np.asarray(vectors).reshape(-1, np.shape(vectors)[-1])
    rng = np.random.default_rng(random_state)
    return float(
        np.mean(
            [
                neighbour_similarity(v[:, rng.permutation(v.shape[1])], rows, cols, size)
                for _ in range(n_shuffles)
            ]
        )
    )


def grid_layout(n_units: int, rows: int, cols: int) -> np.ndarray:
    """The units' grid positions as a map layout: ndarray of shape (n_units, 2) in [0, 1].

    ``x`` is the column, ``y`` the row counted from the top (row 0 at ``y = 1``), both scaled
    by the grid's side, so the map shows the grid as the regularizer saw it.
    """
    check_grid(rows, cols, n_units)
    row, col = grid_positions(n_units, cols)
    return np.column_stack([col / (cols - 1), 1.0 - row / (rows - 1)]).astype(np.float64)
