//! HTML reports (in progress).
