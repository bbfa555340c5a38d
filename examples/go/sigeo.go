// Package sigeo is a cgo binding of libsigeo's statistics API
// (sigeo/stats.h): SiGeo, ZiCo and the Fisher-Rao norm from gradients your
// own code computed, and rank correlations.
//
// Handles are released by an explicit, idempotent Close (no finalizers).
// Errors are *Error values carrying the library's message; errors.Is
// matches them against ErrInvalidArg, ErrShape, ... by status class.
//
// Batches go through sigeo_stats_add_flat_batch: one contiguous gradient
// buffer plus per-module counts, handed to C as plain call arguments, so no
// Go pointer is ever stored in memory that C or Go sees as holding pointers
// (the cgo rule "no Go pointers to Go pointers"; the tests run with
// GODEBUG=cgocheck=2).
//
// Linking: `#cgo pkg-config: sigeo` (set PKG_CONFIG_PATH, and
// PKG_CONFIG_SYSROOT_DIR for a staged install).
package sigeo

/*
#cgo pkg-config: sigeo
#include <stdlib.h>
#include "sigeo/stats.h"

// The batch struct lives on the C stack; every Go pointer arrives as an argument.
static sigeo_status_t go_add_flat(sigeo_stats_t *s, const float *g, int64_t len, const int64_t *counts,
                                  uint32_t n, double loss, int64_t batch_size, const double *d) {
    sigeo_stats_flat_batch_t b;
    sigeo_status_t st = sigeo_stats_flat_batch_init(&b, (uint32_t)sizeof b);
    if (st != SIGEO_OK)
        return st;
    b.n_modules = n;
    b.gradients = g;
    b.gradients_len = len;
    b.module_counts = counts;
    b.loss = loss;
    b.batch_size = batch_size;
    b.directional = d;
    return sigeo_stats_add_flat_batch(s, &b);
}

static sigeo_status_t go_stats_create(sigeo_stats_t **out, int32_t zico, int32_t fr, int32_t loss_term,
                                      int32_t preset, uint32_t ddof, double l1, double l2, double l3) {
    sigeo_stats_options_t o;
    sigeo_status_t st = sigeo_stats_options_init(&o, (uint32_t)sizeof o);
    if (st != SIGEO_OK)
        return st;
    o.zico_variant = zico;
    o.fr_estimator = fr;
    o.loss_term = loss_term;
    o.lambda_preset = preset;
    o.std_ddof = ddof;
    o.lambda1 = l1;
    o.lambda2 = l2;
    o.lambda3 = l3;
    return sigeo_stats_create(out, NULL, &o);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Status classes of sigeo_status_t.
const (
	StatusInvalidArg  = -1
	StatusNoMemory    = -2
	StatusShape       = -3
	StatusNonFinite   = -4
	StatusIO          = -5
	StatusFormat      = -6
	StatusUnsupported = -7
	StatusInternal    = -8
	StatusCancelled   = -9
)

// Error is a failed libsigeo call: its status class and the library's message.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%s)", e.Message, C.GoString(C.sigeo_status_string(C.sigeo_status_t(e.Status))))
}

// Is matches any *Error of the same status class, so errors.Is(err, sigeo.ErrShape) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Status == e.Status
}

// Sentinels for errors.Is.
var (
	ErrInvalidArg  = &Error{Status: StatusInvalidArg}
	ErrNoMemory    = &Error{Status: StatusNoMemory}
	ErrShape       = &Error{Status: StatusShape}
	ErrNonFinite   = &Error{Status: StatusNonFinite}
	ErrUnsupported = &Error{Status: StatusUnsupported}
)

// Version of the loaded library ("0.1.0").
func Version() string { return C.GoString(C.sigeo_version()) }

// threadCall runs a call that reports through the thread-local message
// (no handle yet) on one OS thread, so the message read after it is its own.
func threadCall(f func() C.sigeo_status_t) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if st := f(); st != C.SIGEO_OK {
		return &Error{Status: int(st), Message: C.GoString(C.sigeo_last_error())}
	}
	return nil
}

// ZiCo variants, Fisher-Rao estimators, loss terms and lambda presets (sigeo/stats.h).
const (
	ZicoModuleWise = 0
	ZicoNeuronWise = 1
	FRExact        = 0
	FRIdentity     = 1
	LossMean       = 0
	LossLast       = 1
	PresetCustom   = 0
	PresetZeroShot = 1
	PresetRecsys   = 2
	PresetVision   = 3
)

// Options of a Stats accumulator; DefaultOptions gives the library's defaults.
type Options struct {
	ZicoVariant, FREstimator, LossTerm, LambdaPreset int
	StdDdof                                          uint
	Lambdas                                          [3]float64 // used with PresetCustom
}

// DefaultOptions: module-wise ZiCo, exact FR, mean loss, zero-shot lambdas (1, 1, 0).
func DefaultOptions() Options {
	return Options{LambdaPreset: PresetZeroShot, Lambdas: [3]float64{1, 1, 0}}
}

// WithLambdas: the defaults with custom (lambda1, lambda2, lambda3).
func WithLambdas(l1, l2, l3 float64) Options {
	o := DefaultOptions()
	o.LambdaPreset, o.Lambdas = PresetCustom, [3]float64{l1, l2, l3}
	return o
}

// Stats accumulates k batches of module gradients and per-sample d_n.
// One goroutine at a time; Close releases it.
type Stats struct {
	ptr    *C.sigeo_stats_t
	counts []int64
}

// NewStats creates an accumulator.
func NewStats(o Options) (*Stats, error) {
	var p *C.sigeo_stats_t
	err := threadCall(func() C.sigeo_status_t {
		return C.go_stats_create(&p, C.int32_t(o.ZicoVariant), C.int32_t(o.FREstimator), C.int32_t(o.LossTerm),
			C.int32_t(o.LambdaPreset), C.uint32_t(o.StdDdof), C.double(o.Lambdas[0]), C.double(o.Lambdas[1]),
			C.double(o.Lambdas[2]))
	})
	if err != nil {
		return nil, err
	}
	return &Stats{ptr: p}, nil
}

// Close destroys the accumulator; further calls return ErrInvalidArg. Idempotent.
func (s *Stats) Close() error {
	if s.ptr != nil {
		C.sigeo_stats_destroy(s.ptr)
		s.ptr = nil
	}
	return nil
}

func (s *Stats) check(st C.sigeo_status_t) error {
	if st == C.SIGEO_OK {
		return nil
	}
	// the handle's own copy of the message: valid whichever OS thread ran the call
	return &Error{Status: int(st), Message: C.GoString(C.sigeo_stats_last_error(s.ptr))}
}

func (s *Stats) open() error {
	if s.ptr == nil {
		return &Error{Status: StatusInvalidArg, Message: "sigeo: Stats is closed"}
	}
	return nil
}

// AddModule registers a module of n scalar parameters and returns its index.
func (s *Stats) AddModule(name string, n int64) (int, error) {
	if err := s.open(); err != nil {
		return 0, err
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var idx C.int32_t
	if err := s.check(C.sigeo_stats_add_module(&idx, s.ptr, cname, C.int64_t(n))); err != nil {
		return 0, err
	}
	s.counts = append(s.counts, n)
	return int(idx), nil
}

// AddFlatBatch adds one batch whose module gradients lie one after the
// other in grads (counts[m] floats each; nil counts = the registered sizes).
// directional holds d_n = theta . grad l_n per sample, or is nil.
func (s *Stats) AddFlatBatch(grads []float32, counts []int64, loss float64, batchSize int64, directional []float64) error {
	if err := s.open(); err != nil {
		return err
	}
	if counts == nil {
		counts = s.counts
	}
	if directional != nil && int64(len(directional)) != batchSize {
		return &Error{Status: StatusShape, Message: fmt.Sprintf("sigeo: %d directional values for batch size %d", len(directional), batchSize)}
	}
	var g *C.float
	if len(grads) > 0 {
		g = (*C.float)(unsafe.Pointer(&grads[0]))
	}
	var c *C.int64_t
	if len(counts) > 0 {
		c = (*C.int64_t)(unsafe.Pointer(&counts[0]))
	}
	var d *C.double
	if len(directional) > 0 {
		d = (*C.double)(unsafe.Pointer(&directional[0]))
	}
	st := C.go_add_flat(s.ptr, g, C.int64_t(len(grads)), c, C.uint32_t(len(counts)), C.double(loss),
		C.int64_t(batchSize), d)
	runtime.KeepAlive(grads)
	runtime.KeepAlive(counts)
	runtime.KeepAlive(directional)
	return s.check(st)
}

// AddBatch adds one batch given as one gradient slice per module (copied into one buffer).
func (s *Stats) AddBatch(grads [][]float32, loss float64, batchSize int64, directional []float64) error {
	n := 0
	for _, g := range grads {
		n += len(g)
	}
	flat := make([]float32, 0, n)
	counts := make([]int64, len(grads))
	for m, g := range grads {
		flat = append(flat, g...)
		counts[m] = int64(len(g))
	}
	return s.AddFlatBatch(flat, counts, loss, batchSize, directional)
}

// Result of Compute (sigeo_stats_result_t).
type Result struct {
	Score, Zico, FR, LogFR, Loss       float64
	Lambdas                            [3]float64
	Flags                              uint32
	Batches, Samples, Params           uint64
	Modules, ModulesSkipped            uint32
	ZicoVariant, FREstimator, LossTerm int
}

// Compute returns the score and its components; the accumulator is unchanged.
func (s *Stats) Compute() (Result, error) {
	if err := s.open(); err != nil {
		return Result{}, err
	}
	var r C.sigeo_stats_result_t
	if st := C.sigeo_stats_result_init(&r, C.uint32_t(unsafe.Sizeof(r))); st != C.SIGEO_OK {
		return Result{}, s.check(st)
	}
	if err := s.check(C.sigeo_stats_compute(&r, s.ptr)); err != nil {
		return Result{}, err
	}
	return Result{
		Score: float64(r.score), Zico: float64(r.zico), FR: float64(r.fr), LogFR: float64(r.log_fr),
		Loss: float64(r.loss), Lambdas: [3]float64{float64(r.lambda1), float64(r.lambda2), float64(r.lambda3)},
		Flags: uint32(r.flags), Batches: uint64(r.n_batches), Samples: uint64(r.n_samples),
		Params: uint64(r.n_params), Modules: uint32(r.n_modules), ModulesSkipped: uint32(r.n_modules_skipped),
		ZicoVariant: int(r.zico_variant), FREstimator: int(r.fr_estimator), LossTerm: int(r.loss_term),
	}, nil
}

// Reset forgets the batches and keeps the modules (next candidate, same layout).
func (s *Stats) Reset() error {
	if err := s.open(); err != nil {
		return err
	}
	return s.check(C.sigeo_stats_reset(s.ptr))
}

func pairs(x, y []float64, f func(*C.double, *C.double, *C.double, C.int64_t) C.sigeo_status_t) (float64, error) {
	if len(x) != len(y) || len(x) == 0 {
		return 0, &Error{Status: StatusShape, Message: fmt.Sprintf("sigeo: x has %d values, y %d", len(x), len(y))}
	}
	var out C.double
	err := threadCall(func() C.sigeo_status_t {
		return f(&out, (*C.double)(unsafe.Pointer(&x[0])), (*C.double)(unsafe.Pointer(&y[0])), C.int64_t(len(x)))
	})
	return float64(out), err
}

// Spearman's rho of the pairs (x[i], y[i]).
func Spearman(x, y []float64) (float64, error) {
	return pairs(x, y, func(o, a, b *C.double, n C.int64_t) C.sigeo_status_t { return C.sigeo_stats_spearman(o, a, b, n) })
}

// KendallTau is Kendall's tau-b of the pairs (x[i], y[i]).
func KendallTau(x, y []float64) (float64, error) {
	return pairs(x, y, func(o, a, b *C.double, n C.int64_t) C.sigeo_status_t { return C.sigeo_stats_kendall_tau(o, a, b, n) })
}

// StructSize is sigeo_struct_size(id): the library's sizeof of a public struct (0 if unknown).
func StructSize(id int) int { return int(C.sigeo_struct_size(C.sigeo_struct_id_t(id))) }
