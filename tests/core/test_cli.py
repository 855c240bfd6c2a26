"""The command line: outputs of `map` and `layers`, and one clear line for every bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from topomap_core.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_layers_prints_json(capsys, demo_dir):
    code, out, err = run_cli(capsys, "layers", "--model", "demo:digits-cnn")
    assert code == 0, err
    layers = json.loads(out)
    by_name = {layer["name"]: layer for layer in layers}
    assert by_name["conv1"]["class"] == "Conv2D"
    assert by_name["conv2"]["output_shape"] == [2, 2, by_name["conv2"]["neurons"]]
    assert set(layers[0]) == {"name", "class", "output_shape", "neurons"}


def test_map_writes_all_outputs(capsys, demo_dir, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(
        capsys, "map", "--model", "demo:digits-mlp", "--data", "demo:digits", "--layer", "dense",
        "--groups", "label", "--random-groups", "2", "--per-group", "40", "--method", "pca_pso",
        "--seed", "3", "--out", str(out_dir), "--quiet",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["method"] == "PCA_PSO" and summary["layer"] == "dense"
    assert sorted(summary["groups"]) == sorted(
        [str(i) for i in range(10)] + ["random-1", "random-2"]
    )
    assert all(size <= 40 for size in summary["group_sizes"])
    dist = np.array(summary["group_distance"])
    assert dist.shape == (12, 12) and np.allclose(dist, dist.T) and np.allclose(np.diag(dist), 0)
    assert set(summary["metrics"]) >= {
        "mse_blur_auc", "mse_resize_auc", "n_components", "mean_component_size",
    }  # fmt: skip
    assert summary["timings_s"]["layout"] > 0

    with (out_dir / "layout.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["neuron", "x", "y"] and len(rows) == 129
    xy = np.array(rows[1:], dtype=float)[:, 1:]
    assert xy.min() >= 0 and xy.max() <= 1

    with (out_dir / "nap.csv").open() as fh:
        nap_rows = list(csv.reader(fh))
    assert [r[0] for r in nap_rows[1:]] == summary["groups"]  # dendrogram order
    assert len(nap_rows[1]) == 129

    image = Image.open(out_dir / "maps.png")
    assert image.width > 300 and image.height > 300
    # Issue 20 item 17: maps.png titles say how many examples each map averages, as the
    # page does ("3 (n=40)"); the printed notes point at no scatter (none is drawn).
    from topomap_core.profiles.render import map_grid_geometry, render_map_grid

    blank = np.zeros((12, 100, 100))
    names, sizes = summary["groups"], summary["group_sizes"]
    with_n = render_map_grid(blank, names, 1.0, title="dense - PCA_PSO", sizes=sizes)
    without = render_map_grid(blank, names, 1.0, title="dense - PCA_PSO")
    assert with_n.size == image.size
    for box in map_grid_geometry(12, (100, 100), title="dense - PCA_PSO").label_boxes:
        written = np.asarray(image.convert("RGB").crop(box))
        assert (written == np.asarray(with_n.crop(box))).all()
        assert (written != np.asarray(without.crop(box))).any()
    assert "neurons are dead" in out and "scatter" not in out

    # Same seed, same result.
    code, _, err = run_cli(
        capsys, "map", "--model", "demo:digits-mlp", "--data", "demo:digits", "--layer", "dense",
        "--per-group", "40", "--method", "PCA_PSO", "--seed", "3", "--random-groups", "2",
        "--out", str(tmp_path / "again"), "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "again" / "layout.csv").read_text() == (out_dir / "layout.csv").read_text()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "empty.keras").write_bytes(b"")
    (folder / "noise.keras").write_bytes(np.random.RandomState(0).bytes(4096))
    (folder / "model.onnx").write_bytes(b"onnx")
    np.savez(folder / "wrong_shape.npz", x=np.zeros((10, 5, 5, 1), "float32"), y=np.arange(10))
    return folder


@pytest.mark.parametrize(
    "argv, message",
    [
        (["layers", "--model", "{d}/missing.keras"], "does not exist"),
        (["layers", "--model", "{d}/empty.keras"], "empty"),
        (["layers", "--model", "{d}/noise.keras"], "noise.keras"),
        (["layers", "--model", "{d}/model.onnx"], ".keras"),
        (["layers", "--model", "demo:nope"], "digits-mlp"),
        (["map", "--model", "demo:digits-mlp", "--data", "demo:digits", "--layer", "nope",
          "--out", "{d}/o"], "nope"),
        (["map", "--model", "demo:digits-mlp", "--data", "demo:digits", "--layer", "dense",
          "--method", "tsne-pso", "--out", "{d}/o"], "choose one of"),
        (["map", "--model", "demo:digits-mlp", "--data", "demo:digits", "--layer", "dense",
          "--groups", "colour", "--out", "{d}/o"], "Unknown grouping 'colour'"),
        (["map", "--model", "demo:digits-mlp", "--data", "demo:digits", "--layer", "dense",
          "--groups", "column", "--out", "{d}/o"], "groups"),
        (["map", "--model", "demo:digits-mlp", "--data", "{d}/wrong_shape.npz", "--layer",
          "dense", "--out", "{d}/o"], "(8, 8, 1)"),
        (["map", "--model", "demo:digits-mlp", "--data", "{d}/missing.npz", "--layer", "dense",
          "--out", "{d}/o"], "does not exist"),
        (["map", "--model", "demo:digits-mlp", "--data", "demo:digits", "--layer", "output",
          "--per-group", "0", "--out", "{d}/o"], "Examples per group 0 (must be between 1"),
        (["map", "--model", "demo:digits-mlp"], "required"),
    ],
)  # fmt: skip
def test_bad_input_gives_one_clear_line(capsys, demo_dir, bad_files, argv, message):
    argv = [a.replace("{d}", str(bad_files)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert message in lines[0]


def test_refused_model_in_a_real_process(tmp_path, demo_dir):
    """A Lambda model run through the real entry point: exit 2, one line, no traceback."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    proc = subprocess.run(
        [sys.executable, "-m", "topomap_core", "layers", "--model", str(path)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ}, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Lambda" in lines[0] and "Traceback" not in proc.stderr


def test_help_lists_every_demo_name_and_the_seed_independent_methods(capsys):
    """Issue 12 items 28 and 30: each command's --help names every demo of its inputs' kinds
    (from the one registry), and `map --help` says which methods ignore the seed."""
    from topomap_core.io.demo import demo_names
    from topomap_core.jobs.registry import JOBS
    from topomap_core.placement import deterministic_methods

    for job in JOBS.values():
        if not job.command:
            continue
        with pytest.raises(SystemExit):
            main([job.command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for kind in set(job.inputs.values()):
            for name in demo_names(kind):
                assert name in text, f"{job.command} --help lacks {name}"
        if job.command == "map":
            seed_help = text[text.index("--seed SEED") :]
            assert "same layout for every seed" in seed_help
            for method in deterministic_methods():
                assert method in seed_help.split("same layout")[0]


def test_methods_lists_grid_too(capsys):
    """Issue 20, item 20: a map may ask for grid; `methods` did not list it."""
    code, out, _ = run_cli(capsys, "methods")
    names = [line.split()[0] for line in out.splitlines()]
    assert code == 0 and names[-1] == "grid" and "UMAP_PSO" in names
