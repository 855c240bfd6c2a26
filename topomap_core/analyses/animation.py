"""Exports of a training run: frames, a GIF and an MP4 animation, the change curve as CSV.

Frames are made from a stored training result (a :class:`~.training_maps.TrainingResult`; its
``maps``, ``group_names``, ``vmax`` and ``frame_title`` are read here, the class is never
imported); all states share the run's colour limit, so a colour means the same activation in
every frame.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TopomapError
from ..profiles.interpolate import to_rgb
from ..profiles.render import render_map_grid
from .view import layout_csv

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

#: A :class:`~.training_maps.TrainingResult` (which imports this module for its outputs).
TrainingResult = Any

__all__ = [
    "change_csv",
    "check_fps",
    "check_size",
    "render_frames",
    "save_gif",
    "save_mp4",
    "write_training_outputs",
]


def change_csv(result: TrainingResult) -> str:
    """``state,step,name,change[,accuracy]`` rows (empty cells for NaN / unknown)."""
    with_acc = any(a is not None for a in result.accuracy)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["state", "step", "name", "change"] + (["accuracy"] if with_acc else []))
    for i, ckpt in enumerate(result.checkpoints):
        c = result.change[i]
        row = [i, ckpt.step, ckpt.name, "" if not np.isfinite(c) else f"{c:.6g}"]
        if with_acc:
            acc = result.accuracy[i]
            row.append("" if acc is None else f"{acc:.6g}")
        writer.writerow(row)
    return buf.getvalue()


def check_size(size: object) -> int:
    """Validate a frame's map enlargement: an integer from 1 to 8."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not 1 <= size <= 8:
        raise TopomapError(f"size must be an integer map enlargement from 1 to 8; got {size!r}")
    return int(size)


def render_frames(result: TrainingResult, size: int = 2) -> list[Image.Image]:
    """One image per state: every group's map, a title and one colour bar.

    Parameters
    ----------
    result : TrainingResult
    size : int, default=2
        Integer enlargement of each map (``scale`` of
        :func:`topomap_core.profiles.render.render_map_grid`), 1 to 8.

    Returns
    -------
    list of PIL.Image.Image
        RGB, all the same size, on the shared colour limit ``result.vmax``.
    """
    scale = check_size(size)
    return [
        render_map_grid(
            result.maps[i], result.group_names, result.vmax, scale, title=result.frame_title(i)
        )
        for i in range(result.n_states)
    ]


def check_fps(fps: object) -> float:
    """Validate an animation's frames per second: a number in (0, 60]."""
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= 60:
        raise TopomapError(f"fps must be a number in (0, 60]; got {fps!r}")
    return float(fps)


def _check_frames(frames, fps) -> None:
    if not frames:
        raise TopomapError("an animation needs at least one frame; got none")
    check_fps(fps)


@functools.lru_cache(maxsize=1)
def _gif_palette() -> tuple[np.ndarray, np.ndarray]:
    """One fixed palette for every frame (white, greys for text, the bwr ramp) and a lookup
    table from 6-bit-per-channel RGB to its nearest palette entry.

    A shared palette keeps colours steady from frame to frame, and without dithering the
    flat colour areas compress several times better. Pillow's own palette mapping is
    coarser (white became (252, 252, 255)), hence the exact table.
    """
    from scipy.spatial import cKDTree

    greys = np.linspace(0, 255, 24)
    ramp = to_rgb(np.linspace(-1.0, 1.0, 256 - len(greys) - 1), 1.0).reshape(-1, 3)
    colours = np.concatenate([np.repeat(greys[:, None], 3, axis=1), ramp]).astype(np.float64)
    levels = np.arange(64) * 255.0 / 63.0  # 0 and 255 exactly
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    lut = cKDTree(colours).query(cube)[1].astype(np.uint8)
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(colours)] = np.rint(colours).astype(np.uint8)
    return palette, lut


def _to_palette(frame: Image.Image, palette: np.ndarray, lut: np.ndarray) -> Image.Image:
    from PIL import Image

    rgb = np.asarray(frame.convert("RGB"), dtype=np.uint32) >> 2
    index = lut[(rgb[..., 0] << 12) | (rgb[..., 1] << 6) | rgb[..., 2]]
    image = Image.fromarray(index, mode="P")
    image.putpalette(palette.ravel().tolist())
    return image


def save_gif(frames: list[Image.Image], path: str | Path, fps: float = 8) -> Path:
    """Write ``frames`` as a looping GIF on one fixed palette; returns the path."""
    _check_frames(frames, fps)
    path = Path(path)
    palette, lut = _gif_palette()
    first, *rest = (_to_palette(f, palette, lut) for f in frames)
    first.save(
        path,
        format="GIF",
        save_all=True,
        append_images=rest,
        duration=max(20, round(1000 / fps)),
        loop=0,
    )
    return path


def save_mp4(frames: list[Image.Image], path: str | Path, fps: float = 8) -> Path:
    """Write ``frames`` as an H.264 MP4 (yuv420p, ``+faststart``) with imageio-ffmpeg's ffmpeg.

    Frames are padded with white to even sizes (yuv420p needs them) and piped raw, so no
    frame touches the disk.
    """
    import imageio_ffmpeg

    _check_frames(frames, fps)
    path = Path(path)
    width, height = frames[0].size
    padded = (width + width % 2, height + height % 2)
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{padded[0]}x{padded[1]}",
        "-r",
        f"{fps}",
        "-i",
        "-",
        "-an",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        str(path),
    ]
    canvas = np.full((padded[1], padded[0], 3), 255, dtype=np.uint8)
    with tempfile.TemporaryFile() as err:
        # stderr to a file: a pipe could fill up and block ffmpeg while we write frames.
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=err)
        stdin = proc.stdin
        assert stdin is not None  # opened with stdin=PIPE
        try:
            for frame in frames:
                if frame.size != (width, height):
                    raise TopomapError(
                        f"all frames must have one size; got {frame.size} and {(width, height)}"
                    )
                canvas[:height, :width] = np.asarray(frame.convert("RGB"))
                stdin.write(canvas.tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its exit status and message follow
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
            code = proc.wait()
        if code != 0:
            err.seek(0)
            message = " ".join(err.read().decode(errors="replace").split())[-300:]
            raise RuntimeError(f"ffmpeg failed with status {code}: {message}")
    return path


def write_training_outputs(
    result: TrainingResult, out_dir: str | Path, *, fps: float = 8, size: int = 2
) -> dict[str, Path]:
    """Write ``frames/frame_0000.png ...``, ``animation.gif``, ``animation.mp4``,
    ``change.csv``, ``summary.json`` and ``layout.csv`` into ``out_dir``.

    Returns
    -------
    dict
        File role -> path (``"frames"`` is the folder).
    """
    out = Path(out_dir)
    frames_dir = out / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    frames = render_frames(result, size)
    for i, frame in enumerate(frames):
        frame.save(frames_dir / f"frame_{i:04d}.png", format="PNG")
    paths = {
        "frames": frames_dir,
        "gif": save_gif(frames, out / "animation.gif", fps),
        "mp4": save_mp4(frames, out / "animation.mp4", fps),
        "change": out / "change.csv",
        "summary": out / "summary.json",
        "layout": out / "layout.csv",
    }
    paths["change"].write_text(change_csv(result))
    paths["summary"].write_text(json.dumps(result.summary(), indent=2))
    paths["layout"].write_text(layout_csv(result))
    return paths
