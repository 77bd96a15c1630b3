//! WS-Management for Intel AMT, shared by MPS (client over CIRA), RPS (client relayed through the
//! device agent) and the device simulator (server).
//!
//! - [`http`]: HTTP/1.1 framing over any byte stream: the exact MPS and RPS request layouts, AMT-style
//!   responses, incremental readers with size limits.
//! - [`digest`]: HTTP digest authentication, client and server, with the reference header format.
//! - [`envelope`] and [`messages`]: request builders producing the SOAP of
//!   `@device-management-toolkit/wsman-messages`; [`catalog`] names the classes and actions.
//! - [`parse`]: answers → JSON with the xml2js conventions of the reference services, faults as typed
//!   errors, and the server-side request parser.
//! - [`response`]: server-side answers shaped like real AMT ones.
//!
//! ```
//! use wsman::{Call, ParseOptions};
//! let xml = Call::get("AMT_GeneralSettings").to_xml(1);
//! let wire = wsman::http::encode_request(wsman::http::RequestFraming::ContentLength,
//!     &wsman::http::host("4c4c4544-004b-4210-8033-b6c04f504633", 16992), None, xml.as_bytes());
//! assert!(wire.starts_with(b"POST /wsman HTTP/1.1\r\nHost: 4c4c4544"));
//! # let _ = ParseOptions::MPS;
//! ```

pub mod catalog;
pub mod digest;
pub mod envelope;
pub mod http;
pub mod messages;
pub mod parse;
pub mod response;
pub mod xml;

pub use envelope::{Call, EndpointReference, MessageIds, Selector, SelectorValue};
pub use parse::{
    Fault, ParseOptions, Request, RequestError, Response, ResponseError, parse_request,
    parse_response,
};
