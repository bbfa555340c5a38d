"""The package installs with pip (offline: no build isolation, no deps) and
imports from the install location, not from the source tree."""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)


def test_pip_install_target_then_import(tmp_path):
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if pip.returncode != 0:
        pytest.skip("pip is not installed for this python (apt-get install python3-pip)")
    # setuptools writes build/ and *.egg-info into the source tree: build from a copy
    src = tmp_path / "src"
    shutil.copytree(SRC, src, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
                        "--no-index", "--target", str(target), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "sigeo" / "torch.py").exists()
    code = ("import sigeo, numpy as np; assert sigeo.__file__.startswith(%r), sigeo.__file__; "
            "s = sigeo.Stats({'m': 2}); [s.add_batch([np.array([1.0, i])], loss=1.0, batch_size=1, "
            "directional=[1.0]) for i in range(3)]; print(sigeo.version(), s.compute().n_batches)" % str(target))
    env = dict(os.environ, PYTHONPATH=str(target))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == "3"
