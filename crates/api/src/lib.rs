//! The HTTP service (in progress).
