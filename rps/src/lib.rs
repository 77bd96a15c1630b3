//! rps
