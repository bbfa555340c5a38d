//! The safe wrapper against an independent computation of the scores, the
//! flat path against the slice path (bit for bit), and errors carrying the
//! library's message.
use sigeo::{Context, LabelledBatch, Model, Stats};

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

/// zico = sum_m log sum_j mean|g| / std(g), fr = mean d^2, in f64 from the same f32 data.
fn reference(grads: &[Vec<Vec<f32>>], d: &[Vec<f64>], losses: &[f64], l: [f64; 3]) -> (f64, f64, f64) {
    let k = grads.len() as f64;
    let mut zico = 0.0;
    for m in 0..grads[0].len() {
        let mut sum = 0.0;
        for j in 0..grads[0][m].len() {
            let v: Vec<f64> = grads.iter().map(|b| b[m][j] as f64).collect();
            let mean = v.iter().sum::<f64>() / k;
            let mu = v.iter().map(|x| x.abs()).sum::<f64>() / k;
            let sd = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / k).sqrt();
            if sd != 0.0 {
                sum += mu / sd;
            }
        }
        if sum > 0.0 {
            zico += sum.ln();
        }
    }
    let all: Vec<f64> = d.iter().flatten().copied().collect();
    let fr = all.iter().map(|x| x * x).sum::<f64>() / all.len() as f64;
    let loss = losses.iter().sum::<f64>() / losses.len() as f64;
    (zico, fr, l[0] * zico + l[1] * fr.ln() - l[2] * loss)
}

fn data(k: usize, sizes: &[usize], b: usize) -> (Vec<Vec<Vec<f32>>>, Vec<Vec<f64>>, Vec<f64>) {
    let mut r = Lcg(7);
    let g = (0..k).map(|_| sizes.iter().map(|&n| (0..n).map(|_| r.next() as f32).collect()).collect()).collect();
    let d = (0..k).map(|_| (0..b).map(|_| r.next()).collect()).collect();
    let l = (0..k).map(|_| 1.0 + r.next()).collect();
    (g, d, l)
}

#[test]
fn scores_match_an_independent_computation() {
    let lam = [1.0, 2.0, 0.5];
    let (g, d, l) = data(4, &[6, 3], 5);
    let mut s = Stats::with_lambdas(lam).unwrap();
    s.add_module("fc0", 6).unwrap();
    s.add_module("fc1", 3).unwrap();
    for i in 0..4 {
        let refs: Vec<&[f32]> = g[i].iter().map(|v| v.as_slice()).collect();
        s.add_batch(&refs, l[i], 5, Some(&d[i])).unwrap();
    }
    let r = s.compute().unwrap();
    let (zico, fr, score) = reference(&g, &d, &l, lam);
    assert!((r.zico - zico).abs() <= 1e-6 * zico.abs(), "zico {} vs {}", r.zico, zico);
    assert!((r.fr - fr).abs() <= 1e-12 * fr, "fr {} vs {}", r.fr, fr);
    assert!((r.score - score).abs() <= 1e-6 * score.abs().max(1.0), "score {} vs {}", r.score, score);
    assert_eq!((r.n_batches, r.n_samples, r.n_modules), (4, 20, 2));
    assert_eq!(s.module_info(1).unwrap().n_params, 3);
}

#[test]
fn flat_equals_slices_bit_for_bit() {
    let (g, d, l) = data(3, &[4, 7, 2], 3);
    let mut a = Stats::with_lambdas([1.0, 1.0, 1.0]).unwrap();
    let mut b = Stats::with_lambdas([1.0, 1.0, 1.0]).unwrap();
    for s in [&mut a, &mut b] {
        for (i, n) in [4, 7, 2].iter().enumerate() {
            s.add_module(&format!("m{i}"), *n).unwrap();
        }
    }
    for i in 0..3 {
        let refs: Vec<&[f32]> = g[i].iter().map(|v| v.as_slice()).collect();
        a.add_batch(&refs, l[i], 3, Some(&d[i])).unwrap();
        let flat: Vec<f32> = g[i].iter().flatten().copied().collect();
        b.add_flat_batch(&flat, &[4, 7, 2], l[i], 3, Some(&d[i])).unwrap();
    }
    let (ra, rb) = (a.compute().unwrap(), b.compute().unwrap());
    assert_eq!(ra.score.to_bits(), rb.score.to_bits());
    assert_eq!(ra.zico.to_bits(), rb.zico.to_bits());
    assert_eq!(ra.fr.to_bits(), rb.fr.to_bits());
}

#[test]
fn errors_carry_the_library_message_and_leave_the_handle_usable() {
    let mut s = Stats::with_lambdas([1.0, 1.0, 0.0]).unwrap();
    s.add_module("fc0", 2).unwrap();
    let e = s.add_batch(&[&[1.0, 2.0, 3.0]], 1.0, 1, None).unwrap_err();
    assert_eq!(e.status, sigeo_sys::SIGEO_ERR_SHAPE);
    assert!(e.message.contains("module 'fc0' (index 0) gradient has 3 elements, registered with 2"), "{e}");
    assert!(e.to_string().ends_with("(shape mismatch)") || e.to_string().contains('('), "{e}");
    let e = s.add_flat_batch(&[1.0, f32::NAN], &[2], 1.0, 1, None).unwrap_err();
    assert_eq!(e.status, sigeo_sys::SIGEO_ERR_NONFINITE);
    assert!(e.message.contains("gradient element 1 is nan"), "{e}");
    let e = s.add_flat_batch(&[1.0], &[2], 1.0, 1, None).unwrap_err();
    assert!(e.message.contains("do not fit in gradients_len 1"), "{e}");
    let e = s.compute().unwrap_err();
    assert!(e.message.contains("no batch accumulated"), "{e}");
    assert!(s.add_module("bad\0name", 1).unwrap_err().message.contains("NUL"));
    for i in 0..2 {
        s.add_flat_batch(&[1.0, i as f32], &[2], 1.0, 1, Some(&[3.0])).unwrap();
    }
    assert_eq!(s.compute().unwrap().fr, 9.0);
}

#[test]
fn rank_correlations() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(sigeo::spearman(&x, &[5.0, 6.0, 7.0, 8.0, 7.5]).unwrap(), 0.9); // 1 - 6*2/(5*24)
    assert_eq!(sigeo::kendall_tau(&x, &[2.0, 1.0, 3.0, 4.0, 5.0]).unwrap(), 0.8); // (9 - 1) / 10
    let e = sigeo::spearman(&x, &[1.0; 5]).unwrap_err();
    assert!(e.message.contains("constant"), "{e}");
}

#[test]
fn model_proxy_and_errors() {
    let ctx = Context::new(1, 3).unwrap();
    let mut m = Model::mlp(&ctx, &[4, 6, 3]).unwrap();
    let mut r = Lcg(1);
    let dense: Vec<Vec<f32>> = (0..3).map(|_| (0..8 * 4).map(|_| r.next() as f32).collect()).collect();
    let labels: Vec<Vec<i32>> = (0..3).map(|i| (0..8).map(|n| ((n + i) % 3) as i32).collect()).collect();
    let batches: Vec<LabelledBatch> =
        (0..3).map(|i| LabelledBatch { dense: &dense[i], labels: &labels[i] }).collect();
    let res = m.sigeo(&batches, [1.0, 1.0, 0.0]).unwrap();
    assert!(res.score.is_finite() && res.k == 3 && res.n_modules == 2 && res.n_samples == 24);
    assert!((res.score - (res.zico + res.log_fr)).abs() < 1e-9);
    let e = m.load("/nonexistent/w.safetensors").unwrap_err();
    assert_eq!(e.status, sigeo_sys::SIGEO_ERR_IO);
    assert!(e.message.contains("/nonexistent/w.safetensors"), "{e}");
    let e = m.sigeo(&batches[..1], [1.0, 1.0, 0.0]).unwrap_err();
    assert!(e.message.contains("sigeo"), "{e}");
}
