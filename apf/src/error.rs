use thiserror::Error;

/// Input that can never become a valid APF message. The stream cannot be resynchronised after
/// any of these (APF has no length header), so the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApfError {
    #[error("unknown APF message type {0} (0x{0:02x})")]
    UnknownType(u8),
    #[error("APF {message}: {field} length {len} exceeds the limit of {max} bytes")]
    StringTooLong {
        message: &'static str,
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("APF CHANNEL_DATA length {len} exceeds the limit of {max} bytes")]
    DataTooLong { len: usize, max: usize },
    /// A GLOBAL_REQUEST whose name we do not know: its remaining layout is unknowable. A server
    /// should reply REQUEST_FAILURE when `want_reply` is set and then close the connection.
    #[error("unknown APF GLOBAL_REQUEST {name:?} (want reply: {want_reply})")]
    UnknownGlobalRequest { name: String, want_reply: bool },
    /// A USERAUTH method other than "password" or "none": its fields are unknowable.
    #[error("unsupported APF USERAUTH method {0:?}")]
    UnsupportedAuthMethod(String),
    /// USERAUTH "password" with the change-password boolean set (a layout AMT never sends).
    #[error("APF USERAUTH password change requests are not supported")]
    PasswordChangeNotSupported,
    /// Raised by the encoder for a value that does not fit its length field.
    #[error("APF {field} of {len} bytes cannot be encoded (limit {max})")]
    EncodeTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}
