"""Loading libsigeo and its declarations (ctypes mirrors of the C headers).

The library is looked up, in order, at
  1. $SIGEO_LIB (a path to libsigeo.so.1, or to libsigeo-stats.so.1 for the
     statistics alone),
  2. pkg-config's libdir of `sigeo` (then `sigeo-stats`),
  3. the default loader ("libsigeo.so.1", then "libsigeo-stats.so.1").
Every struct below is checked against sigeo_struct_size() at import, so a
binding that drifted from the headers fails loudly instead of corrupting
memory. Functions a stats-only library lacks raise SigeoError when called.
"""
import ctypes as C
import os
import shutil
import subprocess

from ._errors import SigeoError

c_u32, c_i32, c_u64, c_i64, c_f64, c_f32 = C.c_uint32, C.c_int32, C.c_uint64, C.c_int64, C.c_double, C.c_float
P = C.POINTER


def _candidates():
    env = os.environ.get("SIGEO_LIB")
    if env:
        return [env], True
    out = []
    if shutil.which("pkg-config"):
        for pc, so in (("sigeo", "libsigeo.so.1"), ("sigeo-stats", "libsigeo-stats.so.1")):
            try:
                libdir = subprocess.run(["pkg-config", "--variable=libdir", pc], capture_output=True, text=True,
                                        timeout=10).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                libdir = ""
            if libdir:
                out.append(os.path.join(libdir, so))
    out += ["libsigeo.so.1", "libsigeo-stats.so.1"]
    return out, False


def _load():
    names, explicit = _candidates()
    errors = []
    for n in names:
        if "/" in n and not os.path.exists(n):
            errors.append(f"{n}: no such file")
            continue
        try:
            return C.CDLL(n), n
        except OSError as e:
            errors.append(str(e))
    where = "SIGEO_LIB" if explicit else "SIGEO_LIB (unset), pkg-config sigeo, the default loader"
    raise ImportError("sigeo: libsigeo not found via " + where + ": " + "; ".join(errors))


lib, path = _load()


class Struct(C.Structure):
    """A public struct: filled by its _init() function (the C macros are C only)."""
    _init_fn = None

    def __init__(self, **fields):
        super().__init__()
        fn = getattr(lib, self._init_fn)
        fn.argtypes, fn.restype = [C.c_void_p, c_u32], c_i32
        st = fn(C.byref(self), C.sizeof(self))
        if st != 0:
            raise SigeoError.from_status(st)
        for k, v in fields.items():
            setattr(self, k, v)


def _struct(name, init, struct_id, fields):
    return type(name, (Struct,), {"_fields_": fields, "_init_fn": init, "_struct_id": struct_id})


ContextOptions = _struct("ContextOptions", "sigeo_context_options_init", 2,
                         [("struct_size", c_u32), ("threads", c_u32), ("seed", c_u64),
                          # since 1.1
                          ("thread_policy", c_u32), ("reserved0", c_u32), ("parallel_min_flops", c_u64)])
StatsOptions = _struct("StatsOptions", "sigeo_stats_options_init", 3, [
    ("struct_size", c_u32), ("zico_variant", c_i32), ("fr_estimator", c_i32), ("loss_term", c_i32),
    ("lambda_preset", c_i32), ("std_ddof", c_u32), ("lambda1", c_f64), ("lambda2", c_f64), ("lambda3", c_f64)])
StatsResult = _struct("StatsResult", "sigeo_stats_result_init", 5, [
    ("struct_size", c_u32), ("flags", c_u32), ("score", c_f64), ("zico", c_f64), ("fr", c_f64), ("log_fr", c_f64),
    ("loss", c_f64), ("theta_dot_grad_sum", c_f64), ("lambda1", c_f64), ("lambda2", c_f64), ("lambda3", c_f64),
    ("n_batches", c_u64), ("n_samples", c_u64), ("n_params", c_u64), ("n_modules", c_u32),
    ("n_modules_skipped", c_u32), ("zico_variant", c_i32), ("fr_estimator", c_i32), ("loss_term", c_i32),
    ("std_ddof", c_u32), ("library_version", c_u32), ("reserved0", c_u32),
    # since 1.1: every free variant beside the chosen one
    ("loss_mean", c_f64), ("loss_last", c_f64), ("fr_exact", c_f64), ("log_fr_exact", c_f64),
    ("fr_reference_recsys", c_f64), ("log_fr_reference_recsys", c_f64), ("fr_reference_cv", c_f64),
    ("log_fr_reference_cv", c_f64), ("zico_module_wise", c_f64), ("zico_neuron_wise", c_f64),
    ("zico_reference_recsys", c_f64)])
StatsModuleInfo = _struct("StatsModuleInfo", "sigeo_stats_module_info_init", 6, [
    ("struct_size", c_u32), ("skipped", c_u32), ("n_params", c_i64), ("n_nonzero_sigma", c_i64),
    ("ratio_sum", c_f64), ("zico_term", c_f64), ("theta_dot_grad_sum", c_f64), ("name", C.c_char_p)])
StatsFlatBatch = _struct("StatsFlatBatch", "sigeo_stats_flat_batch_init", 7, [
    ("struct_size", c_u32), ("n_modules", c_u32), ("gradients", P(c_f32)), ("gradients_len", c_i64),
    ("module_offsets", P(c_i64)), ("module_counts", P(c_i64)), ("loss", c_f64), ("batch_size", c_i64),
    ("directional", P(c_f64)), ("touched_rows", P(c_i64)), ("touched_rows_len", c_i64),
    ("touched_offsets", P(c_i64)), ("touched_counts", P(c_i64))])
Batch = _struct("Batch", "sigeo_batch_init", 8, [
    ("struct_size", c_u32), ("n_sparse_fields", c_u32), ("batch_size", c_i64), ("dense", P(c_f32)),
    ("n_dense", c_i64), ("sparse_ids", P(c_i64)), ("sparse_offsets", P(c_i64)), ("labels", P(c_i32)),
    ("targets", P(c_f32)), ("n_targets", c_i64)])
InputDesc = _struct("InputDesc", "sigeo_input_desc_init", 15, [
    ("struct_size", c_u32), ("kind", c_i32), ("name", C.c_char_p), ("features", c_i64), ("shape", c_i64 * 3),
    ("field", c_i32), ("reserved0", c_u32)])
LayerDesc = _struct("LayerDesc", "sigeo_layer_desc_init", 16, [
    ("struct_size", c_u32), ("kind", c_i32), ("name", C.c_char_p), ("inputs", P(c_i32)), ("n_inputs", c_u32),
    ("flags", c_u32), ("units", c_i64), ("rows", c_i64), ("activation", c_i32), ("pooling", c_i32),
    ("width_choice", c_i32), ("choice", c_i32), ("input_choices", P(c_i32)), ("kernel", c_i64 * 2),
    ("stride", c_i64 * 2), ("padding", c_i64 * 2), ("shape", c_i64 * 3), ("offset", c_i64), ("heads", c_i32),
    ("reserved0", c_u32)])
ParamInfo = _struct("ParamInfo", "sigeo_param_info_init", 17, [
    ("struct_size", c_u32), ("kind", c_i32), ("name", C.c_char_p), ("module", c_i32), ("ndim", c_i32),
    ("dims", c_i64 * 4), ("numel", c_i64), ("active_numel", c_i64)])
ProxyOptions = _struct("ProxyOptions", "sigeo_proxy_options_init", 18, [
    ("struct_size", c_u32), ("kind", c_i32), ("zico_variant", c_i32), ("fr_estimator", c_i32), ("loss_term", c_i32),
    ("lambda_preset", c_i32), ("std_ddof", c_u32), ("param_kinds", c_u32), ("lambda1", c_f64), ("lambda2", c_f64),
    ("lambda3", c_f64), ("seed", c_u64), ("hvp_epsilon", c_f64), ("scope", c_i32), ("hvp_mode", c_u32),
    # since 1.1
    ("keep_saliency", c_u32), ("procedure", c_i32), ("step_lr", c_f64), ("swap_mu", c_f64), ("swap_sigma", c_f64),
    ("zen_mixup_gamma", c_f64), ("zen_repeat", c_u32), ("reserved2", c_u32)])
ProxyResult = _struct("ProxyResult", "sigeo_proxy_result_init", 19, [
    ("struct_size", c_u32), ("flags", c_u32), ("score", c_f64), ("seconds", c_f64), ("zico", c_f64), ("fr", c_f64),
    ("log_fr", c_f64), ("loss", c_f64), ("lambda1", c_f64), ("lambda2", c_f64), ("lambda3", c_f64),
    ("kind", c_i32), ("zico_variant", c_i32), ("fr_estimator", c_i32), ("loss_term", c_i32), ("std_ddof", c_u32),
    ("k", c_u32), ("n_samples", c_u64), ("batch_size", c_i64), ("n_modules", c_u32), ("n_modules_skipped", c_u32),
    ("seed", c_u64), ("threads", c_u32), ("library_version", c_u32), ("raw_score", c_f64),
    # since 1.1: the SiGeo family's free variants
    ("loss_mean", c_f64), ("loss_last", c_f64), ("fr_exact", c_f64), ("log_fr_exact", c_f64),
    ("fr_identity", c_f64), ("log_fr_identity", c_f64), ("fr_reference_recsys", c_f64),
    ("log_fr_reference_recsys", c_f64), ("fr_reference_cv", c_f64), ("log_fr_reference_cv", c_f64),
    ("zico_module_wise", c_f64), ("zico_neuron_wise", c_f64), ("zico_reference_recsys", c_f64)])

STRUCTS = [ContextOptions, StatsOptions, StatsResult, StatsModuleInfo, StatsFlatBatch, Batch, InputDesc, LayerDesc,
           ParamInfo, ProxyOptions, ProxyResult]

vp, cp, st = C.c_void_p, C.c_char_p, c_i32
_PROTOS = {
    "sigeo_last_error": ([], cp), "sigeo_status_string": ([st], cp), "sigeo_version": ([], cp),
    "sigeo_struct_size": ([c_i32], c_u32),
    "sigeo_context_create": ([P(vp), vp], st), "sigeo_context_destroy": ([vp], None),
    "sigeo_context_last_error": ([vp], cp),
    "sigeo_stats_create": ([P(vp), vp, vp], st), "sigeo_stats_destroy": ([vp], None),
    "sigeo_stats_add_module": ([P(c_i32), vp, cp, c_i64], st),
    "sigeo_stats_add_table_module": ([P(c_i32), vp, cp, c_i64, c_i64], st),
    "sigeo_stats_add_flat_batch": ([vp, vp], st), "sigeo_stats_set_params": ([vp, c_i32, P(c_f32), c_i64], st),
    "sigeo_stats_compute": ([vp, vp], st), "sigeo_stats_get_module_info": ([vp, vp, c_i32], st),
    "sigeo_stats_module_count": ([P(c_i32), vp], st), "sigeo_stats_reset": ([vp], st),
    "sigeo_stats_last_error": ([vp], cp),
    "sigeo_stats_spearman": ([P(c_f64), P(c_f64), P(c_f64), c_i64], st),
    "sigeo_stats_kendall_tau": ([P(c_f64), P(c_f64), P(c_f64), c_i64], st),
    "sigeo_model_create": ([P(vp), vp, cp], st), "sigeo_model_destroy": ([vp], None),
    "sigeo_model_add_input": ([P(c_i32), vp, vp], st), "sigeo_model_add_layer": ([P(c_i32), vp, vp], st),
    "sigeo_model_set_loss": ([vp, c_i32, c_i32], st), "sigeo_model_finalize": ([vp], st),
    "sigeo_model_forward": ([P(c_f64), vp, vp], st), "sigeo_model_forward_backward": ([P(c_f64), vp, vp], st),
    "sigeo_model_param_count": ([P(c_i32), vp], st), "sigeo_model_param_info": ([vp, vp, c_i32], st),
    "sigeo_model_find_param": ([P(c_i32), vp, cp], st),
    "sigeo_model_get_param": ([vp, c_i32, P(c_f32), c_i64], st),
    "sigeo_model_set_param": ([vp, c_i32, P(c_f32), c_i64], st),
    "sigeo_model_get_grad": ([vp, c_i32, P(c_f32), c_i64], st),
    "sigeo_model_set_training": ([vp, C.c_int], st),
    "sigeo_model_mark_block": ([vp, c_i32], st), "sigeo_model_blocks": ([P(c_i32), P(c_i32), c_i32, vp], st),
    "sigeo_model_save": ([vp, cp], st), "sigeo_model_load": ([vp, cp, c_u32], st),
    "sigeo_model_last_error": ([vp], cp),
    "sigeo_proxy_compute": ([vp, P(c_i32), c_i32, vp, c_u32, vp, vp], st),
    "sigeo_proxy_kind_name": ([c_i32], cp),
}


class _Missing:
    def __init__(self, name):
        self.name = name

    def __call__(self, *a):
        raise SigeoError.from_status(-7, f"{self.name} is not in {path} (a stats-only libsigeo?): load the full libsigeo "
                             "through SIGEO_LIB")


class _Fns:
    pass


fn = _Fns()
for _name, (_args, _res) in _PROTOS.items():
    try:
        _f = getattr(lib, _name)
        _f.argtypes, _f.restype = _args, _res
    except AttributeError:
        _f = _Missing(_name)
    setattr(fn, _name[len("sigeo_"):], _f)


def _check_layouts():
    for s in STRUCTS:
        if not hasattr(lib, s._init_fn):
            continue  # stats-only library: the struct is never used
        want = fn.struct_size(s._struct_id)
        if want != C.sizeof(s):
            raise ImportError(f"sigeo: {s.__name__} is {C.sizeof(s)} bytes here, {want} in {path}: "
                              "this binding does not match the library")


_check_layouts()
