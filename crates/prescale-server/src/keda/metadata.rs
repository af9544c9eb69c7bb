//! The trigger's `scalerMetadata`: the contract the generator writes and the server reads
//! lives once, in [`prescale_policy::metadata`]; this module is that contract, re-exported
//! where the server's KEDA side looks for it.

pub use prescale_policy::metadata::*;
