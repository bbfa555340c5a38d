//! Safe Rust wrapper of libsigeo: RAII handles (dropped = destroyed),
//! `Result` errors carrying the library's own message, slices in.
//!
//! ```no_run
//! let mut s = sigeo::Stats::with_lambdas([1.0, 1.0, 0.0]).unwrap();
//! s.add_module("fc0", 3).unwrap();
//! for k in 0..4 {
//!     let g = [0.1 * k as f32, -0.2, 0.3];
//!     s.add_batch(&[&g], 0.7, 2, Some(&[0.5, -0.1])).unwrap();
//! }
//! println!("SiGeo {}", s.compute().unwrap().score);
//! ```
use sigeo_sys as sys;
use std::ffi::{CStr, CString};
use std::fmt;
use std::mem::{size_of, MaybeUninit};
use std::ptr;

pub use sys::{sigeo_proxy_result_t as ProxyResult, sigeo_stats_module_info_t as ModuleInfo,
              sigeo_stats_options_t as StatsOptions, sigeo_stats_result_t as StatsResult};

/// A failed call: the status class and the library's message ("what and where").
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub status: i32,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = unsafe { CStr::from_ptr(sys::sigeo_status_string(self.status)) };
        write!(f, "{} ({})", self.message, class.to_string_lossy())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn text(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Maps a status to Ok or to the message of `msg` (a handle's own, or the thread's).
fn check(status: i32, msg: *const std::ffi::c_char) -> Result<()> {
    if status == sys::SIGEO_OK {
        Ok(())
    } else {
        Err(Error { status, message: text(msg) })
    }
}

fn thread_error(status: i32) -> Result<()> {
    check(status, if status != 0 { unsafe { sys::sigeo_last_error() } } else { ptr::null() })
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error { status: sys::SIGEO_ERR_INVALID_ARG, message: format!("name {s:?} contains NUL") })
}

/// A struct filled by its C `_init()` function (defaults and struct_size).
macro_rules! init {
    ($f:ident, $t:ty) => {{
        let mut v = MaybeUninit::<$t>::zeroed();
        let st = unsafe { sys::$f(v.as_mut_ptr(), size_of::<$t>() as u32) };
        assert_eq!(st, sys::SIGEO_OK, concat!(stringify!($f), " failed"));
        unsafe { v.assume_init() }
    }};
}

pub fn version() -> String {
    text(unsafe { sys::sigeo_version() })
}

/// Default options of the statistics accumulator (module-wise ZiCo, exact FR, zero-shot lambdas).
pub fn stats_options() -> StatsOptions {
    init!(sigeo_stats_options_init, sys::sigeo_stats_options_t)
}

/// The owner of the compute engine, threads and seed (sigeo_context_t).
pub struct Context {
    ptr: *mut sys::sigeo_context_t,
}

impl Context {
    pub fn new(threads: u32, seed: u64) -> Result<Context> {
        let mut o = init!(sigeo_context_options_init, sys::sigeo_context_options_t);
        o.threads = threads;
        o.seed = seed;
        let mut ptr = ptr::null_mut();
        thread_error(unsafe { sys::sigeo_context_create(&mut ptr, &o) })?;
        Ok(Context { ptr })
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        unsafe { sys::sigeo_context_destroy(self.ptr) }
    }
}

/// SiGeo / ZiCo / Fisher-Rao from gradients computed elsewhere (sigeo/stats.h).
pub struct Stats {
    ptr: *mut sys::sigeo_stats_t,
}

impl Stats {
    pub fn new(options: &StatsOptions) -> Result<Stats> {
        let mut ptr = ptr::null_mut();
        thread_error(unsafe { sys::sigeo_stats_create(&mut ptr, ptr::null_mut(), options) })?;
        Ok(Stats { ptr })
    }

    /// Custom (lambda1, lambda2, lambda3), everything else default.
    pub fn with_lambdas(l: [f64; 3]) -> Result<Stats> {
        let mut o = stats_options();
        o.lambda_preset = sys::SIGEO_PRESET_CUSTOM;
        (o.lambda1, o.lambda2, o.lambda3) = (l[0], l[1], l[2]);
        Stats::new(&o)
    }

    fn check(&self, st: i32) -> Result<()> {
        check(st, if st != 0 { unsafe { sys::sigeo_stats_last_error(self.ptr) } } else { ptr::null() })
    }

    /// Registers a module of `n_params` scalars; returns its index.
    pub fn add_module(&mut self, name: &str, n_params: i64) -> Result<i32> {
        let name = cstring(name)?;
        let mut idx = 0;
        self.check(unsafe { sys::sigeo_stats_add_module(&mut idx, self.ptr, name.as_ptr(), n_params) })?;
        Ok(idx)
    }

    /// One batch: one gradient slice per module, the mean loss, and the per-sample d_n (or None).
    pub fn add_batch(&mut self, gradients: &[&[f32]], loss: f64, batch_size: i64, directional: Option<&[f64]>)
        -> Result<()> {
        let ptrs: Vec<*const f32> = gradients.iter().map(|g| g.as_ptr()).collect();
        let counts: Vec<i64> = gradients.iter().map(|g| g.len() as i64).collect();
        let d = self.directional(directional, batch_size)?;
        let mut b = init!(sigeo_stats_batch_init, sys::sigeo_stats_batch_t);
        b.n_modules = gradients.len() as u32;
        b.gradients = ptrs.as_ptr();
        b.gradient_counts = counts.as_ptr();
        b.loss = loss;
        b.batch_size = batch_size;
        b.directional = d;
        self.check(unsafe { sys::sigeo_stats_add_batch(self.ptr, &b) })
    }

    /// The same from one flat buffer holding every module in registration order.
    pub fn add_flat_batch(&mut self, gradients: &[f32], counts: &[i64], loss: f64, batch_size: i64,
                          directional: Option<&[f64]>) -> Result<()> {
        let d = self.directional(directional, batch_size)?;
        let mut b = init!(sigeo_stats_flat_batch_init, sys::sigeo_stats_flat_batch_t);
        b.n_modules = counts.len() as u32;
        b.gradients = gradients.as_ptr();
        b.gradients_len = gradients.len() as i64;
        b.module_counts = counts.as_ptr();
        b.loss = loss;
        b.batch_size = batch_size;
        b.directional = d;
        self.check(unsafe { sys::sigeo_stats_add_flat_batch(self.ptr, &b) })
    }

    fn directional(&self, d: Option<&[f64]>, batch_size: i64) -> Result<*const f64> {
        match d {
            None => Ok(ptr::null()),
            Some(d) if d.len() as i64 == batch_size => Ok(d.as_ptr()),
            Some(d) => Err(Error { status: sys::SIGEO_ERR_SHAPE,
                                   message: format!("directional has {} values, batch_size is {batch_size}", d.len()) }),
        }
    }

    pub fn compute(&mut self) -> Result<StatsResult> {
        let mut r = init!(sigeo_stats_result_init, sys::sigeo_stats_result_t);
        self.check(unsafe { sys::sigeo_stats_compute(&mut r, self.ptr) })?;
        Ok(r)
    }

    pub fn module_info(&self, module: i32) -> Result<ModuleInfo> {
        let mut i = init!(sigeo_stats_module_info_init, sys::sigeo_stats_module_info_t);
        self.check(unsafe { sys::sigeo_stats_get_module_info(&mut i, self.ptr, module) })?;
        Ok(i)
    }

    pub fn reset(&mut self) -> Result<()> {
        self.check(unsafe { sys::sigeo_stats_reset(self.ptr) })
    }
}

// One thread at a time (the C contract); moving a handle between threads is fine.
unsafe impl Send for Stats {}

impl Drop for Stats {
    fn drop(&mut self) {
        unsafe { sys::sigeo_stats_destroy(self.ptr) }
    }
}

/// Spearman's rho of the pairs (x[i], y[i]).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    pairs(x, y, sys::sigeo_stats_spearman)
}

/// Kendall's tau-b of the pairs (x[i], y[i]).
pub fn kendall_tau(x: &[f64], y: &[f64]) -> Result<f64> {
    pairs(x, y, sys::sigeo_stats_kendall_tau)
}

fn pairs(x: &[f64], y: &[f64], f: unsafe extern "C" fn(*mut f64, *const f64, *const f64, i64) -> i32) -> Result<f64> {
    if x.len() != y.len() {
        return Err(Error { status: sys::SIGEO_ERR_SHAPE, message: format!("x has {} values, y {}", x.len(), y.len()) });
    }
    let mut out = 0.0;
    thread_error(unsafe { f(&mut out, x.as_ptr(), y.as_ptr(), x.len() as i64) })?;
    Ok(out)
}

/// A libsigeo model (sigeo/model.h), borrowing its context.
pub struct Model<'c> {
    ptr: *mut sys::sigeo_model_t,
    _ctx: std::marker::PhantomData<&'c Context>,
}

/// One batch of dense rows with class labels (softmax cross-entropy).
pub struct LabelledBatch<'a> {
    pub dense: &'a [f32],
    pub labels: &'a [i32],
}

impl<'c> Model<'c> {
    pub fn new(ctx: &'c Context, name: &str) -> Result<Model<'c>> {
        let name = cstring(name)?;
        let mut ptr = ptr::null_mut();
        thread_error(unsafe { sys::sigeo_model_create(&mut ptr, ctx.ptr, name.as_ptr()) })?;
        Ok(Model { ptr, _ctx: std::marker::PhantomData })
    }

    fn check(&self, st: i32) -> Result<()> {
        check(st, if st != 0 { unsafe { sys::sigeo_model_last_error(self.ptr) } } else { ptr::null() })
    }

    /// A ReLU MLP with layers fc0, fc1, ... (PyTorch nn.Linear names) and softmax cross-entropy.
    pub fn mlp(ctx: &'c Context, widths: &[i64]) -> Result<Model<'c>> {
        let mut m = Model::new(ctx, "mlp")?;
        let name = cstring("x")?;
        let mut d = init!(sigeo_input_desc_init, sys::sigeo_input_desc_t);
        d.name = name.as_ptr();
        d.features = widths[0];
        let mut h = 0;
        m.check(unsafe { sys::sigeo_model_add_input(&mut h, m.ptr, &d) })?;
        for (l, &w) in widths.iter().enumerate().skip(1) {
            h = m.layer(&format!("fc{}", l - 1), sys::SIGEO_LAYER_LINEAR, h, w, 0)?;
            if l + 1 < widths.len() {
                h = m.layer(&format!("relu{}", l - 1), sys::SIGEO_LAYER_ACTIVATION, h, 0, sys::SIGEO_ACT_RELU)?;
            }
        }
        m.check(unsafe { sys::sigeo_model_set_loss(m.ptr, h, sys::SIGEO_LOSS_SOFTMAX_CE) })?;
        m.check(unsafe { sys::sigeo_model_finalize(m.ptr) })?;
        Ok(m)
    }

    fn layer(&mut self, name: &str, kind: i32, input: i32, units: i64, act: i32) -> Result<i32> {
        let name = cstring(name)?;
        let inputs = [input];
        let mut d = init!(sigeo_layer_desc_init, sys::sigeo_layer_desc_t);
        d.kind = kind;
        d.name = name.as_ptr();
        d.inputs = inputs.as_ptr();
        d.n_inputs = 1;
        d.units = units;
        d.activation = act;
        let mut node = 0;
        self.check(unsafe { sys::sigeo_model_add_layer(&mut node, self.ptr, &d) })?;
        Ok(node)
    }

    /// Loads parameters by name from a safetensors file.
    pub fn load(&mut self, path: &str) -> Result<()> {
        let p = cstring(path)?;
        self.check(unsafe { sys::sigeo_model_load(self.ptr, p.as_ptr(), 0) })
    }

    /// sigeo_proxy_compute of the active architecture with custom lambdas.
    pub fn sigeo(&mut self, batches: &[LabelledBatch], lambdas: [f64; 3]) -> Result<ProxyResult> {
        let mut bs = Vec::with_capacity(batches.len());
        for b in batches {
            let mut sb = init!(sigeo_batch_init, sys::sigeo_batch_t);
            let rows = b.labels.len() as i64;
            if rows == 0 || b.dense.len() as i64 % rows != 0 {
                return Err(Error { status: sys::SIGEO_ERR_SHAPE,
                                   message: format!("{} dense values for {rows} labels", b.dense.len()) });
            }
            sb.batch_size = rows;
            sb.dense = b.dense.as_ptr();
            sb.n_dense = b.dense.len() as i64 / rows;
            sb.labels = b.labels.as_ptr();
            bs.push(sb);
        }
        let mut o = init!(sigeo_proxy_options_init, sys::sigeo_proxy_options_t);
        o.lambda_preset = sys::SIGEO_PRESET_CUSTOM;
        (o.lambda1, o.lambda2, o.lambda3) = (lambdas[0], lambdas[1], lambdas[2]);
        let mut r = init!(sigeo_proxy_result_init, sys::sigeo_proxy_result_t);
        self.check(unsafe {
            sys::sigeo_proxy_compute(self.ptr, ptr::null(), 0, bs.as_ptr(), bs.len() as u32, &o, &mut r)
        })?;
        Ok(r)
    }
}

impl Drop for Model<'_> {
    fn drop(&mut self) {
        unsafe { sys::sigeo_model_destroy(self.ptr) }
    }
}
