"""Readers for the ADBench input files (GMM, BA, LSTM) and their expected outputs.

A file is looked up, by its path relative to ADBench's `data/` folder, in `$SRCAD_ADBENCH_DIR`
(when set), then `bench/data/adbench-full/` (what `bench/fetch_adbench.py` fetches for the
full sizes), then `bench/data/adbench/` (the small inputs kept in the repository). See
bench/data/adbench/README.md. Every value is parsed as float64.
"""

import json
import os
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data"
VENDORED = DATA / "adbench"
FETCHED = DATA / "adbench-full"
FETCH_HINT = ("fetch the full ADBench inputs with `python bench/fetch_adbench.py`, or set "
              "SRCAD_ADBENCH_DIR to a copy of ADBench's data/ folder")


class DataMissing(FileNotFoundError):
    """An ADBench file is in none of the data folders."""


def folders():
    env = os.environ.get("SRCAD_ADBENCH_DIR")
    return ([Path(env).resolve()] if env else []) + [FETCHED, VENDORED]


def find(relative):
    """The path of an ADBench file, or None."""
    for folder in folders():
        if (folder / relative).is_file():
            return folder / relative
    return None


def path(relative):
    found = find(relative)
    if found is None:
        raise DataMissing(f"ADBench file {relative} is not in the repository: {FETCH_HINT}")
    return found


def expected(section, name):
    """The expected outputs for one ADBench input, e.g. expected("gmm", "test.txt")."""
    with open(path("expected/adbench_expected_outputs.json")) as fh:
        return json.load(fh)[section][name]


def _numbers(p):
    with open(p) as fh:
        return np.array(fh.read().split(), dtype=np.float64)


def read_gmm(relative, replicate=None):
    """-> alphas (K,), means (K, d), icf (K, d(d+1)/2), x (n, d), gamma, m.

    Files in the 2.5M folder store one point for all n rows; that is detected by counting
    the numbers before the final (gamma, m) pair (or forced with `replicate`).
    """
    v = _numbers(path(relative))
    d, k, n = int(v[0]), int(v[1]), int(v[2])
    t = d * (d + 1) // 2
    pos = 3
    alphas = v[pos:pos + k].copy()
    pos += k
    means = v[pos:pos + k * d].reshape(k, d).copy()
    pos += k * d
    icf = v[pos:pos + k * t].reshape(k, t).copy()
    pos += k * t
    npoints = (v.size - pos - 2) // d
    if replicate is None:
        replicate = npoints == 1 and n > 1
    if replicate:
        x = np.tile(v[pos:pos + d], (n, 1))
    else:
        x = v[pos:pos + n * d].reshape(n, d).copy()
    gamma, m = float(v[-2]), int(v[-1])
    return alphas, means, icf, x, gamma, m


def ba_file(name):
    """'ba1' -> 'ba/ba1_n49_m7776_p31843.txt'; 'test' -> 'ba/test.txt'."""
    if name == "test":
        return "ba/test.txt"
    for folder in folders():
        for p in sorted((folder / "ba").glob(f"{name}_n*.txt")):
            return f"ba/{p.name}"
    raise DataMissing(f"no ADBench BA file for {name!r}: {FETCH_HINT}")


def read_ba(relative):
    """-> cams (n, 11), X (m, 3), w (p,), feats (p, 2), obs (p, 2) int64.

    The file holds one camera, point, weight and feature; ADBench replicates them and links
    observation i to camera i % n and point i % m.
    """
    v = _numbers(path(relative))
    n, m, p = int(v[0]), int(v[1]), int(v[2])
    cam, pt, w, feat = v[3:14], v[14:17], v[17], v[18:20]
    cams = np.tile(cam, (n, 1))
    X = np.tile(pt, (m, 1))
    ws = np.full(p, w)
    feats = np.tile(feat, (p, 1))
    i = np.arange(p, dtype=np.int64)
    obs = np.stack([i % n, i % m], axis=1)
    return cams, X, ws, feats, obs


def read_lstm(relative):
    """-> main_params (2l, 4b), extra_params (3, b), state (2l, b), sequence (c, b)."""
    v = _numbers(path(relative))
    layers, c, b = int(v[0]), int(v[1]), int(v[2])
    pos = 3
    main = v[pos:pos + 2 * layers * 4 * b].reshape(2 * layers, 4 * b).copy()
    pos += 2 * layers * 4 * b
    extra = v[pos:pos + 3 * b].reshape(3, b).copy()
    pos += 3 * b
    state = v[pos:pos + 2 * layers * b].reshape(2 * layers, b).copy()
    pos += 2 * layers * b
    seq = v[pos:pos + c * b].reshape(c, b).copy()
    return main, extra, state, seq
