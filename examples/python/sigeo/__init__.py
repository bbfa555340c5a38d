"""sigeo: Python binding of libsigeo (ctypes; no compiler needed).

    import sigeo
    s = sigeo.Stats({"fc0": n0, "fc1": n1}, lambdas=(1, 1, 0))
    s.add_batch([g0, g1], loss=loss, batch_size=B, directional=d)   # k >= 2 batches
    print(s.compute().score)

sigeo.torch.score(model, batches, loss_fn) scores any torch.nn.Module
(import sigeo.torch; needs PyTorch). The library is found through
$SIGEO_LIB, pkg-config or the default loader (see sigeo._lib).
"""
from ._errors import (CancelledError, FormatError, InternalError, InvalidArgumentError, NonFiniteError,
                      OutOfMemoryError, ShapeError, SigeoError, SigeoIOError, UnsupportedError)
from ._lib import path as library_path
from .core import (Context, Model, Result, Stats, kendall_tau, proxy_kinds, save_safetensors, spearman, version)

__all__ = ["Context", "Model", "Result", "Stats", "kendall_tau", "spearman", "proxy_kinds", "save_safetensors",
           "version", "library_path", "SigeoError", "InvalidArgumentError", "OutOfMemoryError", "ShapeError",
           "NonFiniteError", "SigeoIOError", "FormatError", "UnsupportedError", "InternalError", "CancelledError"]
