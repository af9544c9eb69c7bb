//! The models, one file each, and the registry that builds them by name.

pub mod crane_dsp;
