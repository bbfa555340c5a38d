"""sigeo.Stats and the rank correlations against numpy; errors as exceptions."""
import math

import numpy as np
import pytest


import sigeo
from conftest import score_ref


def same(a, b):
    """Results equal field for field, bit for bit, NaN equal to NaN (1.1's
    free variants are NaN where their data is missing)."""
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True



def batches(rng, sizes, k=4, B=6):
    return [([rng.normal(size=n).astype(np.float32) for n in sizes], float(rng.uniform(0.5, 2)), B,
             rng.normal(size=B)) for _ in range(k)]


def test_score_matches_numpy(rng):
    data = batches(rng, [7, 3, 5])
    with sigeo.Stats({"a": 7, "b": 3, "c": 5}, lambdas=(1.0, 2.0, 0.5)) as s:
        for g, loss, B, d in data:
            s.add_batch(g, loss=loss, batch_size=B, directional=d)
        r = s.compute()
    ref = score_ref([g for g, *_ in data], [d for *_, d in data], [l for _, l, _, _ in data], (1.0, 2.0, 0.5))
    # the accumulators are float32 (three per parameter): ZiCo to ~1e-7; FR and the loss in double
    for key, rel in (("zico", 1e-6), ("score", 1e-6), ("fr", 1e-12), ("log_fr", 1e-12), ("loss", 1e-12)):
        assert r[key] == pytest.approx(ref[key], rel=rel), key
    assert r.n_batches == 4 and r.n_samples == 24 and r.n_modules == 3 and r.fr_estimator_name == "exact"


def test_flat_array_equals_list(rng):
    data = batches(rng, [4, 9])
    a, b = sigeo.Stats({"x": 4, "y": 9}), sigeo.Stats({"x": 4, "y": 9})
    for g, loss, B, d in data:
        a.add_batch(g, loss=loss, batch_size=B, directional=d)
        b.add_batch(np.concatenate(g), loss=loss, batch_size=B, directional=d)
    assert same(a.compute(), b.compute())  # bit for bit


def test_module_info_and_reset(rng):
    s = sigeo.Stats({"only": 5})
    data = batches(rng, [5])
    for g, loss, B, d in data:
        s.add_batch(g, loss=loss, batch_size=B, directional=d)
    r1 = s.compute()
    info = s.module_info(0)
    assert info.name == "only" and info.n_params == 5 and info.zico_term == pytest.approx(r1.zico)
    s.reset()
    for g, loss, B, d in data:
        s.add_batch(g, loss=loss, batch_size=B, directional=d)
    assert same(s.compute(), r1)


def test_errors_carry_the_library_message(rng):
    s = sigeo.Stats({"fc0": 3, "fc1": 2})
    with pytest.raises(sigeo.ShapeError, match=r"module 'fc1' \(index 1\) gradient has 3 elements, registered with 2"):
        s.add_batch([np.zeros(3), np.zeros(3)], loss=1.0, batch_size=2)
    with pytest.raises(sigeo.NonFiniteError, match=r"module 'fc0' \(index 0\) gradient element 1 is nan"):
        s.add_batch([np.array([0, np.nan, 0]), np.zeros(2)], loss=1.0, batch_size=2)
    with pytest.raises(sigeo.InvalidArgumentError, match="batch_size 0"):
        s.add_batch([np.zeros(3), np.zeros(2)], loss=1.0, batch_size=0)
    with pytest.raises(sigeo.InvalidArgumentError, match="no batch accumulated"):
        s.compute()
    with pytest.raises(sigeo.InvalidArgumentError, match="duplicate|already"):
        sigeo.Stats({"a": 1}).add_module("a", 2)
    with pytest.raises(ValueError, match="zico 'bogus'"):
        sigeo.Stats(zico="bogus")
    # the handle is usable and unchanged after the failures
    data = batches(rng, [3, 2], B=2)
    for g, loss, B, d in data:
        s.add_batch(g, loss=loss, batch_size=B, directional=d)
    ref = score_ref([g for g, *_ in data], [d for *_, d in data], [l for _, l, _, _ in data], (1, 1, 0))
    assert s.compute().score == pytest.approx(ref["score"], rel=1e-6)
    s.close()
    s.close()
    with pytest.raises(sigeo.InvalidArgumentError, match="closed"):
        s.compute()


def ranks(v):
    """Average ranks with ties, written out independently of the library."""
    v = np.asarray(v, float)
    order = np.argsort(v, kind="mergesort")
    r = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return r


def test_rank_correlations(rng):
    x = rng.integers(0, 6, size=30).astype(float)
    y = x + rng.normal(size=30)
    assert sigeo.spearman(x, y) == pytest.approx(np.corrcoef(ranks(x), ranks(y))[0, 1], rel=1e-12)
    n, c, d, tx, ty = len(x), 0, 0, 0, 0
    for i in range(n):
        for j in range(i):
            sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            c += sx * sy > 0
            d += sx * sy < 0
            tx += sx == 0
            ty += sy == 0
    n0 = n * (n - 1) / 2
    assert sigeo.kendall_tau(x, y) == pytest.approx((c - d) / np.sqrt((n0 - tx) * (n0 - ty)), rel=1e-12)
    with pytest.raises(sigeo.InvalidArgumentError, match="constant"):
        sigeo.spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
