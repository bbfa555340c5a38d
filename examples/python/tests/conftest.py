"""Shared helpers of the sigeo Python tests: independent (numpy / torch)
reference computations of the scores, and the two models compared with
libsigeo's own C path (an MLP and a small conv-BN net, same parameter names
on both sides)."""
import numpy as np
import pytest


def zico_ref(grads_per_batch, ddof=0):
    """Eq. 6's first term from the k batch gradients of each module, in float64."""
    total = 0.0
    for m in range(len(grads_per_batch[0])):
        g = np.stack([np.asarray(b[m], np.float64).ravel() for b in grads_per_batch])
        mu, sd = np.abs(g).mean(0), g.std(0, ddof=ddof)
        nz = sd != 0
        if nz.any():
            total += np.log((mu[nz] / sd[nz]).sum())
    return total


def score_ref(grads_per_batch, d_per_batch, losses, lambdas):
    d = np.concatenate([np.asarray(x, np.float64) for x in d_per_batch])
    fr = float((d ** 2).mean())
    z = zico_ref(grads_per_batch)
    return dict(zico=z, fr=fr, log_fr=np.log(fr), loss=float(np.mean(losses)),
                score=lambdas[0] * z + lambdas[1] * np.log(fr) - lambdas[2] * float(np.mean(losses)))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
