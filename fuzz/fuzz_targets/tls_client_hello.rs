//! The CIRA listener's ClientHello reader (`mps::cira::client_hello::peek`) on any bytes a client
//! sends first. Checks beyond "no panic": a request for more bytes asks for more than it was given
//! and never past one TLS record; a read ClientHello keeps its answer when more bytes follow it
//! (the listener peeks at a stream that may already hold the next record).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mps::cira::client_hello::{MAX_RECORD, Peek, peek};

fuzz_target!(|bytes: &[u8]| {
    match peek(bytes) {
        Peek::NeedMore(total) => {
            assert!(total > bytes.len(), "asked for {total} with {} in hand", bytes.len());
            assert!(total <= MAX_RECORD);
        }
        Peek::Hello(offer) => {
            let mut longer = bytes.to_vec();
            longer.extend_from_slice(&[0x17, 3, 3, 0, 1, 0]);
            assert_eq!(peek(&longer), Peek::Hello(offer.clone()));
            // Routing is a function of the offer alone.
            assert_eq!(offer.fits_rustls(), offer.clone().fits_rustls());
        }
        Peek::NotHello => {}
    }
});
