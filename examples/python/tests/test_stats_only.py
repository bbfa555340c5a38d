"""The binding over libsigeo-stats (no oneDNN / OpenBLAS): Stats works, the
engine calls say clearly that this library lacks them."""
import os
import subprocess
import sys

import pytest

import sigeo

HERE = os.path.dirname(os.path.abspath(__file__))


def test_stats_only_library(tmp_path):
    lib = os.path.join(os.path.dirname(sigeo.library_path), "libsigeo-stats.so.1")
    if "/" not in sigeo.library_path or not os.path.exists(lib):
        pytest.skip(f"no libsigeo-stats.so.1 beside {sigeo.library_path}")
    code = ("import sigeo, numpy as np\n"
            "s = sigeo.Stats({'m': 2})\n"
            "for i in range(3): s.add_batch([np.array([1.0, i])], loss=1.0, batch_size=1, directional=[2.0])\n"
            "assert abs(s.compute().fr - 4.0) < 1e-12\n"
            "try:\n    sigeo.Context(); sigeo.Model(sigeo.Context())\n"
            "except sigeo.UnsupportedError as e: print('unsupported:', e)\n")
    env = dict(os.environ, SIGEO_LIB=lib, PYTHONPATH=os.path.dirname(HERE))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "unsupported: sigeo_model_create is not in" in r.stdout and "stats-only" in r.stdout
    maps = subprocess.run([sys.executable, "-c", "import sigeo, os; print(open('/proc/self/maps').read())"],
                          capture_output=True, text=True, env=env).stdout
    # (numpy brings its own OpenBLAS, so only oneDNN and the full libsigeo can be checked here;
    # tests/bindings/test-stats-only.sh checks both backends with ldd)
    assert "libsigeo-stats" in maps and "libdnnl" not in maps and "libsigeo.so" not in maps
