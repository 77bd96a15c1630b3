//! apf
