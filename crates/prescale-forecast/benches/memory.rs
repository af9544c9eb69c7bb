//! Peak heap memory of one `prescale` fit + forecast on 40,320 points (28 days of 1-minute data).
//!
//! `cargo bench -p prescale-forecast --bench memory`
//!
//! A counting global allocator (`peak_alloc`) records the peak of live heap bytes while the fit runs, above
//! what was allocated before it (the input series itself, 315 KiB, is excluded). The target is
//! under 5 MB; the bench exits non-zero above it.

use peak_alloc::PeakAlloc;
use prescale_core::synth::{SyntheticSpec, generate};
use prescale_forecast::model::{FitInput, predict};
use prescale_forecast::models::ModelKind;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

const TARGET_BYTES: usize = 5_000_000;

fn main() {
    let month = generate(&SyntheticSpec {
        days: 28.0,
        ..SyntheticSpec::default()
    });
    let mut worst = 0;
    for kind in ModelKind::ALL {
        let model = kind.build();
        let base = ALLOC.current_usage();
        ALLOC.reset_peak_usage();
        let input = FitInput::from_series(&month, 30);
        let result = model
            .fit(&input)
            .and_then(|f| predict(f.as_ref(), month.end(), 60, 30, &[0.5, 0.9]));
        let peak = ALLOC.peak_usage().saturating_sub(base);
        drop(result);
        println!(
            "{:<22} peak heap during fit+predict on 40,320 points: {:>9} bytes ({:.2} MB)",
            kind.name(),
            peak,
            peak as f64 / 1e6
        );
        if kind == ModelKind::Prescale {
            worst = peak;
        }
    }
    if worst > TARGET_BYTES {
        eprintln!("prescale uses {worst} bytes, above the {TARGET_BYTES}-byte target");
        std::process::exit(1);
    }
    println!("prescale is within the {TARGET_BYTES}-byte target");
}
