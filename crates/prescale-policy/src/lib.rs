//! Scaling policy engine (in progress).
