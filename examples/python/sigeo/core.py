"""Pythonic handles over libsigeo: Context, Stats (scores from your own
gradients), Model (the builder, checkpoints, proxies) and rank correlations.
numpy arrays in and out; every failure raises a SigeoError subclass whose
text is the library's message."""
import ctypes as C
import json
import os
import struct as _struct_mod
import tempfile

import numpy as np

from . import _lib
from ._errors import InvalidArgumentError, SigeoError
from ._lib import fn

ZICO = {"module-wise": 0, "neuron-wise": 1, "reference-recsys": 2}
FR = {"exact": 0, "identity": 1, "reference-recsys": 2, "reference-cv": 3}
LOSS_TERM = {"mean": 0, "last": 1}
PRESET = {"custom": 0, "zero-shot": 1, "recsys": 2, "vision": 3}
LOSS = {"bce": 0, "bce_with_logits": 0, "softmax_ce": 1, "cross_entropy": 1, "mse": 2}
ACT = {"identity": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "gelu": 4}
SCOPE = {"all": 0, "head": 1}
LAYER = {"linear": 0, "activation": 1, "embedding_bag": 2, "sum": 3, "concat": 4, "select": 5,
         "dot_interaction": 6, "layer_norm": 7, "conv2d": 8, "batch_norm": 9, "pool2d": 10, "global_avg_pool": 11,
         "token_linear": 12, "attention": 13, "fm": 14, "sigmoid_gating": 15, "slice": 16, "reshape": 17, "zero": 18}
FR_NAMES = {v: k for k, v in FR.items()}
FLAG_HAS_FR, FLAG_FR_ZERO, FLAG_ALL_SKIPPED = 0x1, 0x2, 0x4


def _pick(table, value, what):
    if isinstance(value, int) and value in table.values():
        return value
    try:
        return table[value]
    except (KeyError, TypeError):
        raise InvalidArgumentError(-1, f"{what} {value!r}: expected one of {', '.join(table)}") from None


def _raise(status, handle_msg=None):
    """Raises for a failed call; the handle's text when there is one (same text, any thread)."""
    msg = handle_msg.decode("utf-8", "replace") if handle_msg else None
    raise SigeoError.from_status(status, msg)


def version():
    return fn.version().decode()


class Result(dict):
    """A result struct as a dict with attribute access (r.score, r["score"])."""
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def of(cls, s, **extra):
        d = cls({name: getattr(s, name) for name, _ in s._fields_ if name not in ("struct_size", "reserved0")})
        d.update(extra)
        return d


def _apply_lambdas(o, lambdas, preset):
    if lambdas is not None:
        lam = [float(v) for v in lambdas]
        if len(lam) != 3:
            raise InvalidArgumentError(-1, f"lambdas: need three values (lambda1, lambda2, lambda3), got {len(lam)}")
        o.lambda_preset = 0
        o.lambda1, o.lambda2, o.lambda3 = lam
    else:
        o.lambda_preset = _pick(PRESET, preset, "preset")


class _Handle:
    _destroy = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Frees the handle now (also on garbage collection); idempotent."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            type(self)._destroy(h)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _check(self, status):
        if status != 0:
            _raise(status, self._errfn(self._h) if self._h else None)

    @property
    def handle(self):
        if not self._h:
            raise InvalidArgumentError(-1, f"{type(self).__name__} is closed")
        return self._h


class Context(_Handle):
    """Compute threads and the seed every random choice is drawn from."""
    _destroy = staticmethod(lambda h: fn.context_destroy(h))
    _errfn = staticmethod(lambda h: fn.context_last_error(h))

    def __init__(self, threads=0, seed=0):
        o = _lib.ContextOptions(threads=threads, seed=seed)
        h = C.c_void_p()
        st = fn.context_create(C.byref(h), C.byref(o))
        self._h = h.value
        if st != 0:
            _raise(st)


def _f32(a, what):
    a = np.ascontiguousarray(a, dtype=np.float32)
    return a, a.ctypes.data_as(C.POINTER(C.c_float))


class Stats(_Handle):
    """SiGeo / ZiCo / Fisher-Rao from gradients you computed (sigeo/stats.h).

    s = Stats({"fc0": n0, "fc1": n1}, lambdas=(1, 1, 0))
    s.add_batch([g0, g1], loss=0.7, batch_size=128, directional=d)   # k times
    r = s.compute()                                                 # r.score, r.zico, r.fr, ...
    """
    _destroy = staticmethod(lambda h: fn.stats_destroy(h))
    _errfn = staticmethod(lambda h: fn.stats_last_error(h))

    def __init__(self, modules=None, *, zico="module-wise", fr="exact", loss_term="mean", lambdas=None,
                 preset="zero-shot", ddof=0, context=None):
        o = _lib.StatsOptions()
        o.zico_variant = _pick(ZICO, zico, "zico")
        o.fr_estimator = _pick(FR, fr, "fr")
        o.loss_term = _pick(LOSS_TERM, loss_term, "loss_term")
        o.std_ddof = ddof
        _apply_lambdas(o, lambdas, preset)
        h = C.c_void_p()
        st = fn.stats_create(C.byref(h), context.handle if context else None, C.byref(o))
        self._h = h.value
        if st != 0:
            _raise(st)
        self._counts = []
        for name, n in (modules or {}).items():
            self.add_module(name, n)

    def add_module(self, name, n_params):
        idx = C.c_int32()
        self._check(fn.stats_add_module(C.byref(idx), self.handle, name.encode(), int(n_params)))
        self._counts.append(int(n_params))
        return idx.value

    def add_table_module(self, name, rows, row_size):
        idx = C.c_int32()
        self._check(fn.stats_add_table_module(C.byref(idx), self.handle, name.encode(), int(rows), int(row_size)))
        self._counts.append(int(rows) * int(row_size))
        return idx.value

    def add_batch(self, gradients, loss, batch_size, directional=None, counts=None):
        """gradients: a list of per-module arrays (flattened), or one flat array
        holding every module in registration order (then `counts` may give
        the split; default: the registered sizes)."""
        if isinstance(gradients, (list, tuple)):
            parts = [np.asarray(g, dtype=np.float32).ravel() for g in gradients]
            counts = [p.size for p in parts]
            flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        else:
            flat = np.asarray(gradients, dtype=np.float32).ravel()
            counts = list(self._counts) if counts is None else list(counts)
        flat, fp = _f32(flat, "gradients")
        cnt = (C.c_int64 * len(counts))(*counts)
        b = _lib.StatsFlatBatch(n_modules=len(counts), gradients=fp, gradients_len=flat.size,
                                module_counts=cnt, loss=float(loss), batch_size=int(batch_size))
        if directional is not None:
            d = np.ascontiguousarray(directional, dtype=np.float64).ravel()
            if d.size != int(batch_size):
                raise InvalidArgumentError(-1, f"directional has {d.size} values, batch_size is {batch_size}")
            b.directional = d.ctypes.data_as(C.POINTER(C.c_double))
        self._check(fn.stats_add_flat_batch(self.handle, C.byref(b)))

    def set_params(self, module, theta):
        a, p = _f32(np.ravel(theta), "theta")
        self._check(fn.stats_set_params(self.handle, int(module), p, a.size))

    def compute(self):
        r = _lib.StatsResult()
        self._check(fn.stats_compute(C.byref(r), self.handle))
        return Result.of(r, fr_estimator_name=FR_NAMES.get(r.fr_estimator))

    def module_info(self, module):
        i = _lib.StatsModuleInfo()
        self._check(fn.stats_get_module_info(C.byref(i), self.handle, int(module)))
        out = Result.of(i)
        out["name"] = i.name.decode()
        return out

    def reset(self):
        self._check(fn.stats_reset(self.handle))


def _correlation(f, x, y):
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise InvalidArgumentError(-1, f"x has {x.size} values, y {y.size}")
    out = C.c_double()
    st = f(C.byref(out), x.ctypes.data_as(C.POINTER(C.c_double)), y.ctypes.data_as(C.POINTER(C.c_double)), x.size)
    if st != 0:
        _raise(st)
    return out.value


def spearman(x, y):
    """Spearman's rho of the pairs (x[i], y[i]) (sigeo_stats_spearman)."""
    return _correlation(fn.stats_spearman, x, y)


def kendall_tau(x, y):
    """Kendall's tau-b of the pairs (x[i], y[i]) (sigeo_stats_kendall_tau)."""
    return _correlation(fn.stats_kendall_tau, x, y)


class _Batches:
    """sigeo_batch_t array over (x, y) pairs; keeps the numpy copies alive."""

    def __init__(self, batches, loss_kind):
        self.keep = []
        self.arr = (_lib.Batch * len(batches))()
        for i, (x, y) in enumerate(batches):
            x = np.ascontiguousarray(x, dtype=np.float32)
            b = _lib.Batch(batch_size=x.shape[0], n_dense=int(np.prod(x.shape[1:])) if x.ndim > 1 else 1)
            b.dense = x.ctypes.data_as(C.POINTER(C.c_float))
            self.keep.append(x)
            if y is not None:
                if loss_kind == 1:
                    y = np.ascontiguousarray(y, dtype=np.int32).ravel()
                    b.labels = y.ctypes.data_as(C.POINTER(C.c_int32))
                else:
                    y = np.ascontiguousarray(y, dtype=np.float32).reshape(x.shape[0], -1)
                    b.targets = y.ctypes.data_as(C.POINTER(C.c_float))
                    b.n_targets = y.shape[1]
                self.keep.append(y)
            self.arr[i] = b


class Model(_Handle):
    """A libsigeo model built with the builder calls of sigeo/model.h.

    m = Model(ctx); x = m.input("x", 784)
    h = m.relu(m.linear("fc0", x, 48)); out = m.linear("fc1", h, 10)
    m.set_loss(out, "softmax_ce"); m.finalize(); m.load("weights.safetensors")
    r = m.proxy([(x0, y0), (x1, y1)], "sigeo", lambdas=(1, 1, 0))
    """
    _destroy = staticmethod(lambda h: fn.model_destroy(h))
    _errfn = staticmethod(lambda h: fn.model_last_error(h))

    def __init__(self, context, name=None):
        h = C.c_void_p()
        st = fn.model_create(C.byref(h), context.handle, name.encode() if name else None)
        self._h = h.value
        if st != 0:
            _raise(st)
        self._context = context  # the context must outlive the model
        self._loss_kind = None
        self._n_act = 0

    def input(self, name, features, shape=None):
        d = _lib.InputDesc(name=name.encode(), features=int(features))
        if shape is not None:
            for i, v in enumerate(shape):
                d.shape[i] = int(v)
        node = C.c_int32()
        self._check(fn.model_add_input(C.byref(node), self.handle, C.byref(d)))
        return node.value

    def layer(self, kind, name, inputs, **fields):
        """Any layer of sigeo_layer_desc_t: kind by name ("linear", "conv2d", ...), fields by C name."""
        ins = [inputs] if isinstance(inputs, int) else list(inputs)
        arr = (C.c_int32 * len(ins))(*ins)
        d = _lib.LayerDesc(kind=_pick(LAYER, kind, "layer kind"), name=name.encode(), inputs=arr, n_inputs=len(ins))
        for k, v in fields.items():
            if k in ("kernel", "stride", "padding", "shape"):
                v = [v, v] if isinstance(v, int) else v
                for i, e in enumerate(v):
                    getattr(d, k)[i] = int(e)
            elif k == "activation":
                d.activation = _pick(ACT, v, "activation")
            else:
                setattr(d, k, v)
        node = C.c_int32()
        self._check(fn.model_add_layer(C.byref(node), self.handle, C.byref(d)))
        return node.value

    def linear(self, name, x, units, bias=True):
        return self.layer("linear", name, x, units=units, flags=0 if bias else 1)

    def conv2d(self, name, x, out_channels, kernel, stride=1, padding=0, bias=True):
        return self.layer("conv2d", name, x, units=out_channels, kernel=kernel, stride=stride, padding=padding,
                          flags=0 if bias else 1)

    def batch_norm(self, name, x, running_stats=False):
        return self.layer("batch_norm", name, x, flags=2 if running_stats else 0)

    def activation(self, x, act, name=None):
        self._n_act += 1
        return self.layer("activation", name or f"{act}{self._n_act}", x, activation=act)

    def relu(self, x, name=None):
        return self.activation(x, "relu", name)

    def global_avg_pool(self, name, x):
        return self.layer("global_avg_pool", name, x)

    def set_loss(self, output, kind):
        self._loss_kind = _pick(LOSS, kind, "loss")
        self._check(fn.model_set_loss(self.handle, int(output), self._loss_kind))

    def finalize(self):
        self._check(fn.model_finalize(self.handle))

    def mark_block(self, node):
        """Marks `node` as a block output for AZ-NAS's measures (sigeo_model_mark_block; after set_loss)."""
        self._check(fn.model_mark_block(self.handle, int(node)))

    def blocks(self):
        """The marked block nodes, ascending (sigeo_model_blocks); [] without marks."""
        n = C.c_int32()
        self._check(fn.model_blocks(C.byref(n), None, 0, self.handle))
        if n.value == 0:
            return []
        buf = (C.c_int32 * n.value)()
        self._check(fn.model_blocks(C.byref(n), buf, n.value, self.handle))
        return list(buf[:n.value])

    def set_training(self, training=True):
        self._check(fn.model_set_training(self.handle, 1 if training else 0))

    def load(self, path, allow_extra=False, allow_missing=False):
        self._check(fn.model_load(self.handle, os.fsencode(path), (1 if allow_extra else 0) | (2 if allow_missing else 0)))

    def save(self, path):
        self._check(fn.model_save(self.handle, os.fsencode(path)))

    def params(self):
        """Parameter infos in model order: name, kind, module, dims, numel."""
        n = C.c_int32()
        self._check(fn.model_param_count(C.byref(n), self.handle))
        out = []
        for i in range(n.value):
            p = _lib.ParamInfo()
            self._check(fn.model_param_info(C.byref(p), self.handle, i))
            r = Result.of(p)
            r["name"], r["dims"] = p.name.decode(), tuple(p.dims[:p.ndim])
            out.append(r)
        return out

    def _param(self, name):
        i = C.c_int32()
        self._check(fn.model_find_param(C.byref(i), self.handle, name.encode()))
        p = _lib.ParamInfo()
        self._check(fn.model_param_info(C.byref(p), self.handle, i.value))
        return i.value, tuple(p.dims[:p.ndim])

    def get_param(self, name):
        i, dims = self._param(name)
        a = np.empty(dims, np.float32)
        self._check(fn.model_get_param(self.handle, i, a.ctypes.data_as(C.POINTER(C.c_float)), a.size))
        return a

    def get_grad(self, name):
        i, dims = self._param(name)
        a = np.empty(dims, np.float32)
        self._check(fn.model_get_grad(self.handle, i, a.ctypes.data_as(C.POINTER(C.c_float)), a.size))
        return a

    def set_param(self, name, value):
        i, dims = self._param(name)
        a, p = _f32(value, name)
        self._check(fn.model_set_param(self.handle, i, p, a.size))

    def forward(self, x, y=None, backward=False):
        """Mean loss of one batch (y None: forward only, returns None)."""
        bs = _Batches([(x, y)], self._loss_kind)
        loss = C.c_double()
        call = fn.model_forward_backward if backward else fn.model_forward
        self._check(call(C.byref(loss) if y is not None else None, self.handle, C.byref(bs.arr[0])))
        return loss.value if y is not None else None

    def proxy(self, batches, kind="sigeo", *, lambdas=None, preset="zero-shot", fr="exact", zico="module-wise",
              loss_term="mean", ddof=0, scope="all", seed=0, arch=None):
        """sigeo_proxy_compute on batches [(x, labels or targets), ...]."""
        o = _lib.ProxyOptions()
        o.kind = kind if isinstance(kind, int) else _proxy_kind(kind)
        o.fr_estimator = _pick(FR, fr, "fr")
        o.zico_variant = _pick(ZICO, zico, "zico")
        o.loss_term = _pick(LOSS_TERM, loss_term, "loss_term")
        o.std_ddof, o.seed, o.scope = ddof, seed, _pick(SCOPE, scope, "scope")
        _apply_lambdas(o, lambdas, preset)
        bs = _Batches(list(batches), self._loss_kind)
        a = (C.c_int32 * len(arch))(*arch) if arch else None
        r = _lib.ProxyResult()
        self._check(fn.proxy_compute(self.handle, a, len(arch) if arch else 0, bs.arr, len(bs.arr), C.byref(o),
                                     C.byref(r)))
        return Result.of(r, fr_estimator_name=FR_NAMES.get(r.fr_estimator))


def proxy_kinds():
    """Names of the proxy kinds this library knows, by number."""
    out, k = {}, 0
    while k < 64:
        name = fn.proxy_kind_name(k)
        if name:
            out[name.decode()] = k
        elif k > 16:
            break
        k += 1
    return out


def _proxy_kind(name):
    kinds = proxy_kinds()
    if name not in kinds:
        raise InvalidArgumentError(-1, f"proxy {name!r}: known are {', '.join(kinds)}")
    return kinds[name]


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: array} as a safetensors file (F32; PyTorch layout), atomically:
    a temporary file in the same directory, then rename."""
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(np.asarray(a), dtype=np.float32)
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = dict({"format": "pt"}, **(metadata or {}))
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".sigeo-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_struct_mod.pack("<Q", len(h)) + h)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
