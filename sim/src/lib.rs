//! sim

pub mod device;
