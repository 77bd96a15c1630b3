//! The live event stream: bus → hub → server-sent events to every open dashboard.

pub mod hub;
pub mod stream;
pub mod translate;

pub use hub::{Feed, Frame, LiveHub};
pub use translate::{Kind, LiveEvent, translate};
