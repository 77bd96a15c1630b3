//! Reason codes carried in DISCONNECT, CHANNEL_OPEN_FAILURE and PROTOCOLVERSION (spec/mps.md §1.3).
//! Each is a thin wrapper over the wire `u32`, so unknown codes survive a decode/encode round trip.

use std::fmt;

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:expr),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub u32);
        #[allow(non_upper_case_globals)]
        impl $name {
            $($(#[$vdoc])* pub const $variant: $name = $name($value);)+
            /// The protocol's name for the code, if it is one the protocol defines.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $($value => Some(stringify!($variant)),)+ _ => None }
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() { Some(n) => write!(f, "{n}({})", self.0), None => write!(f, "{}({})", stringify!($name), self.0) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { fmt::Debug::fmt(self, f) }
        }
        impl From<u32> for $name { fn from(v: u32) -> Self { $name(v) } }
        impl From<$name> for u32 { fn from(v: $name) -> u32 { v.0 } }
    };
}

code_enum!(
    /// DISCONNECT reason codes.
    DisconnectReason {
        HOST_NOT_ALLOWED_TO_CONNECT = 1,
        PROTOCOL_ERROR = 2,
        KEY_EXCHANGE_FAILED = 3,
        RESERVED = 4,
        MAC_ERROR = 5,
        COMPRESSION_ERROR = 6,
        SERVICE_NOT_AVAILABLE = 7,
        PROTOCOL_VERSION_NOT_SUPPORTED = 8,
        HOST_KEY_NOT_VERIFIABLE = 9,
        CONNECTION_LOST = 10,
        BY_APPLICATION = 11,
        TOO_MANY_CONNECTIONS = 12,
        AUTH_CANCELLED_BY_USER = 13,
        NO_MORE_AUTH_METHODS_AVAILABLE = 14,
        INVALID_CREDENTIALS = 15,
        CONNECTION_TIMED_OUT = 16,
        BY_POLICY = 17,
        TEMPORARILY_UNAVAILABLE = 18,
    }
);

code_enum!(
    /// CHANNEL_OPEN_FAILURE reason codes.
    ChannelOpenFailureReason {
        ADMINISTRATIVELY_PROHIBITED = 1,
        CONNECT_FAILED = 2,
        UNKNOWN_CHANNEL_TYPE = 3,
        RESOURCE_SHORTAGE = 4,
    }
);

code_enum!(
    /// Why AMT opened the tunnel (PROTOCOLVERSION trigger reason; MPS ignores it).
    TriggerReason {
        USER_INITIATED = 1,
        ALERT = 2,
        HIT_PROVISIONING = 3,
        PERIODIC = 4,
        LME = 254,
    }
);
