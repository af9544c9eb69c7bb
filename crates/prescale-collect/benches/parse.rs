//! Parse benchmarks (being built).

fn main() {}
