//! Real FFT plans shared by the period analysis and the `fft` estimator.

use realfft::{RealFftPlanner, num_complex::Complex};

/// FFT plans, created once per length and reused.
pub(super) struct Fft {
    pub(super) planner: RealFftPlanner<f64>,
}

impl Fft {
    /// The half spectrum `X_0..=X_{N/2}` of `x` (unnormalized).
    pub(super) fn forward(&mut self, x: &[f64]) -> Vec<Complex<f64>> {
        let plan = self.planner.plan_fft_forward(x.len());
        let mut input = x.to_vec();
        let mut out = plan.make_output_vec();
        let mut scratch = plan.make_scratch_vec();
        // The buffers come from the plan itself, so the lengths always match.
        let _ = plan.process_with_scratch(&mut input, &mut out, &mut scratch);
        out
    }

    /// The real signal of length `n` with half spectrum `spec`, normalized by `1 / n`.
    pub(super) fn inverse(&mut self, spec: &mut [Complex<f64>], n: usize) -> Vec<f64> {
        let plan = self.planner.plan_fft_inverse(n);
        let mut out = plan.make_output_vec();
        if spec.len() != plan.complex_len() {
            return out;
        }
        // A real signal's DC (and even-length Nyquist) bins are real.
        spec[0].im = 0.0;
        if n.is_multiple_of(2) {
            spec[n / 2].im = 0.0;
        }
        let mut scratch = plan.make_scratch_vec();
        let _ = plan.process_with_scratch(spec, &mut out, &mut scratch);
        let scale = 1.0 / n as f64;
        out.iter_mut().for_each(|v| *v *= scale);
        out
    }
}
