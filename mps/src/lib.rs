//! mps
