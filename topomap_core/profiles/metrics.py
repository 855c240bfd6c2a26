"""Quantitative quality of topographic maps (paper 4.2, Figure 2).

Two families, both on the *rendered* RGB images (``maps.to_rgb``, white outside
the hull), averaged over groups:

* robustness to perturbation: the mean squared error between a map and a
  Gaussian-blurred (radii 2..20 px) or bicubically down- and up-scaled
  (55..10 px) copy, summed over the parameter with the trapezoidal rule. A map
  made of smooth, coherent regions changes little, so *lower is better*;
* connected components of the coloured regions: their number and mean area.
  Few, large regions read as a topographic map, but one region covering
  everything carries no information.

Following REFERENCE.md ("Quality metrics"): errors are computed in floating
point (the authors subtract uint8 images, which wraps around), and the white
area outside the hull is background, never a coloured region.

A fifth metric the paper lacks, :func:`coverage_cv`, measures the *layout*, not the image: how
evenly the neurons cover the map (the coefficient of variation of nearest-neighbour distances;
lower is more even). The four image metrics reward clumped layouts (a few large flat regions
interpolated over empty space), which the paper's authors reject by eye; this one penalises
them. See ``docs/ALGORITHMS.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from ..errors import TopomapError
from .interpolate import to_rgb

__all__ = [
    "BLUR_RADII",
    "RESIZE_SIZES",
    "ComponentStats",
    "blur_mse_auc",
    "blur_mse_curve",
    "component_stats",
    "coverage_cv",
    "HIGHER_IS_BETTER",
    "METRICS",
    "quality_metrics",
    "resize_mse_auc",
    "resize_mse_curve",
]

#: Gaussian blur radii in px: 2 to 20 in steps of 2 (paper 4.2).
BLUR_RADII: tuple[int, ...] = tuple(range(2, 21, 2))
#: Down-scaling sizes in px: 55 x 55 down to 10 x 10 in steps of 5 (paper 4.2).
RESIZE_SIZES: tuple[int, ...] = tuple(range(55, 9, -5))

#: The five quality metrics, in the order they are shown.
METRICS: tuple[str, ...] = (
    "mse_blur_auc",
    "mse_resize_auc",
    "n_components",
    "mean_component_size",
    "coverage_cv",
)
#: Metrics where a larger value is better (the paper: fewer, larger regions); lower otherwise.
HIGHER_IS_BETTER: frozenset[str] = frozenset({"mean_component_size"})

# 8-connectivity: diagonal neighbours join a region, as OpenCV's default in the paper.
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


class ComponentStats(NamedTuple):
    """Connected-component quality, averaged over groups (paper 4.2, Figure 2B)."""

    #: Mean number of kept components (blue plus red regions) per image.
    n_components: float
    #: Mean over images with components of their mean component area, in px; 0.0 if none.
    mean_component_size: float


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise TopomapError(
            f"images must have shape (n_groups, height, width, 3) (RGB); got {images.shape}"
        )
    if images.dtype != np.uint8:
        raise TopomapError(
            f"images must be uint8 RGB as rendered by maps.to_rgb; got dtype {images.dtype}"
        )
    if min(images.shape[:3]) < 1:
        raise TopomapError(f"images must not be empty; got shape {images.shape}")
    return images


def _check_params(params: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(params, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise TopomapError(f"{name} must be at least 2 positive numbers; got {list(params)!r}")
    if np.unique(arr).size != arr.size:
        raise TopomapError(f"{name} must not repeat a value; got {list(params)!r}")
    return arr


def _mse(a: Image.Image, b: np.ndarray) -> float:
    # Float arithmetic: uint8 subtraction would wrap around (the reference's bug).
    diff = np.asarray(a, dtype=np.float64) - b
    return float(np.mean(diff * diff))


def blur_mse_curve(
    images: np.ndarray, radii: Sequence[float] = BLUR_RADII
) -> tuple[np.ndarray, np.ndarray]:
    """MSE between each image and its Gaussian blur, per radius.

    Parameters
    ----------
    images : ndarray of shape (n_groups, height, width, 3), uint8
    radii : sequence of float, default=BLUR_RADII
        Blur radii in px (Pillow's ``ImageFilter.GaussianBlur``).

    Returns
    -------
    radii : ndarray of shape (n_radii,)
    mse : ndarray of shape (n_groups, n_radii)
        On the 0-255 scale, averaged over pixels and channels.
    """
    images = _check_images(images)
    radii_arr = _check_params(radii, "radii")
    mse = np.empty((images.shape[0], radii_arr.size))
    for g, img in enumerate(images):
        pil = Image.fromarray(np.ascontiguousarray(img))
        ref = img.astype(np.float64)
        for j, r in enumerate(radii_arr):
            mse[g, j] = _mse(pil.filter(ImageFilter.GaussianBlur(radius=float(r))), ref)
    return radii_arr, mse


def blur_mse_auc(images: np.ndarray, radii: Sequence[float] = BLUR_RADII) -> float:
    """Area under the blur-MSE curve (trapezoidal rule over the radii), mean over groups.

    Lower means the map is made of smoother, larger regions (paper 4.2, Figure 2A).

    Parameters
    ----------
    images : ndarray of shape (n_groups, height, width, 3), uint8
    radii : sequence of float, default=BLUR_RADII

    Returns
    -------
    float
    """
    radii_arr, mse = blur_mse_curve(images, radii)
    order = np.argsort(radii_arr)
    return float(np.mean(np.trapezoid(mse[:, order], x=radii_arr[order], axis=1)))


def resize_mse_curve(
    images: np.ndarray, sizes: Sequence[int] = RESIZE_SIZES
) -> tuple[np.ndarray, np.ndarray]:
    """MSE between each image and a bicubic round trip through ``s x s`` px, per size.

    Parameters
    ----------
    images : ndarray of shape (n_groups, height, width, 3), uint8
    sizes : sequence of int, default=RESIZE_SIZES
        Intermediate square sizes in px.

    Returns
    -------
    sizes : ndarray of shape (n_sizes,), ascending
    mse : ndarray of shape (n_groups, n_sizes)
        On the 0-255 scale, columns matching ``sizes``.
    """
    images = _check_images(images)
    sizes_arr = np.sort(_check_params(sizes, "sizes"))
    if np.any(sizes_arr != np.round(sizes_arr)):
        raise TopomapError(f"sizes must be whole numbers of pixels; got {list(sizes)!r}")
    height, width = images.shape[1:3]
    mse = np.empty((images.shape[0], sizes_arr.size))
    for g, img in enumerate(images):
        pil = Image.fromarray(np.ascontiguousarray(img))
        ref = img.astype(np.float64)
        for j, s in enumerate(sizes_arr.astype(int)):
            small = pil.resize((int(s), int(s)), Image.Resampling.BICUBIC)
            back = small.resize((width, height), Image.Resampling.BICUBIC)
            mse[g, j] = _mse(back, ref)
    return sizes_arr, mse


def resize_mse_auc(images: np.ndarray, sizes: Sequence[int] = RESIZE_SIZES) -> float:
    """Area under the resize-MSE curve (trapezoidal rule over ascending sizes), mean over groups.

    Lower means the map survives down-scaling, i.e. has few fine details (paper 4.2).

    Parameters
    ----------
    images : ndarray of shape (n_groups, height, width, 3), uint8
    sizes : sequence of int, default=RESIZE_SIZES

    Returns
    -------
    float
    """
    sizes_arr, mse = resize_mse_curve(images, sizes)
    return float(np.mean(np.trapezoid(mse, x=sizes_arr, axis=1)))


def _component_sizes(mask: np.ndarray, min_size: int) -> np.ndarray:
    labels, n = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return sizes[sizes >= min_size]


def component_stats(images: np.ndarray, threshold: int = 230, min_size: int = 10) -> ComponentStats:
    """Number and mean area of coloured regions, averaged over groups (paper 4.2, Figure 2B).

    In the red channel of a ``bwr`` image, white and red pixels are 255 and blue
    ones darker, so ``red < threshold`` finds the *blue* regions; likewise the blue
    channel finds the red regions. White background (outside the hull) is above
    the threshold in both and never counts.

    Parameters
    ----------
    images : ndarray of shape (n_groups, height, width, 3), uint8
    threshold : int, default=230
        A pixel is coloured where the channel is strictly below this.
    min_size : int, default=10
        Components with fewer pixels are dropped (not perceived as regions).

    Returns
    -------
    ComponentStats
        ``(n_components, mean_component_size)``: the mean count per image, and the
        mean over images that have components of their mean area (0.0 if no image has any).
    """
    images = _check_images(images)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)):
        raise TopomapError(f"threshold must be an integer in [1, 255]; got {threshold!r}")
    if not 1 <= threshold <= 255:
        raise TopomapError(f"threshold must be an integer in [1, 255]; got {threshold}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)):
        raise TopomapError(f"min_size must be an integer >= 1; got {min_size!r}")
    if min_size < 1:
        raise TopomapError(f"min_size must be an integer >= 1; got {min_size}")

    counts = []
    mean_sizes = []
    for img in images:
        # Channel 0 (red) finds blue regions, channel 2 (blue) finds red regions.
        sizes = np.concatenate(
            [_component_sizes(img[..., c] < threshold, min_size) for c in (0, 2)]
        )
        counts.append(sizes.size)
        if sizes.size:
            mean_sizes.append(float(sizes.mean()))
    return ComponentStats(
        n_components=float(np.mean(counts)),
        mean_component_size=float(np.mean(mean_sizes)) if mean_sizes else 0.0,
    )


def coverage_cv(layout: np.ndarray) -> float:
    """How unevenly the neurons cover the map: the coefficient of variation of the distances
    from each neuron to its nearest neighbour (std / mean).

    0 for a perfect lattice, about 0.52 for uniform random points, well above for clumped
    layouts (clusters with empty space between them). It is independent of the scale and of
    the map's resolution. Lower is more even.

    Parameters
    ----------
    layout : ndarray of shape (n_neurons, 2)
        At least 2 neurons.

    Returns
    -------
    float
        NaN when every neuron sits on one point (no coverage at all).
    """
    from scipy.spatial import cKDTree

    xy = np.asarray(layout, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] < 2 or not np.all(np.isfinite(xy)):
        raise TopomapError(
            f"layout must be finite, of shape (n_neurons >= 2, 2); got shape {xy.shape}"
        )
    nearest, _ = cKDTree(xy).query(xy, k=2)
    d = nearest[:, 1]
    mean = float(d.mean())
    return float(d.std() / mean) if mean > 0 else float("nan")


def quality_metrics(
    maps: np.ndarray, vmax: float, layout: np.ndarray | None = None
) -> dict[str, float]:
    """The quality metrics of paper 4.2 for a set of maps, averaged over groups, and the
    coverage of the layout.

    Parameters
    ----------
    maps : ndarray of shape (n_groups, height, width), float
        Interpolated maps (:func:`~topomap_core.profiles.interpolate.interpolate_maps`), NaN
        outside the hull.
    vmax : float
        The shared colour limit (:func:`topomap_core.profiles.interpolate.colour_limit`).
    layout : ndarray of shape (n_neurons, 2), optional
        The neurons' positions the maps were drawn from; adds ``coverage_cv``.

    Returns
    -------
    dict
        ``mse_blur_auc``, ``mse_resize_auc`` (lower is smoother), ``n_components`` and
        ``mean_component_size`` (px), and with ``layout`` ``coverage_cv`` (lower is more
        even), all python floats.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise TopomapError(f"maps must have shape (n_groups, height, width); got {maps.shape}")
    images = to_rgb(maps, vmax)  # white outside the hull: background for every metric
    stats = component_stats(images)
    out = {
        "mse_blur_auc": blur_mse_auc(images),
        "mse_resize_auc": resize_mse_auc(images),
        "n_components": stats.n_components,
        "mean_component_size": stats.mean_component_size,
    }
    if layout is not None:
        out["coverage_cv"] = coverage_cv(layout)
    return out
