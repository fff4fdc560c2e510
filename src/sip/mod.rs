//! SIP: framing, the zero-copy message, digest parameters.

pub mod digest;
pub mod digest_math;
pub mod header;
pub mod message;

pub use digest::{AuthHeader, Challenge, Credentials, Shared};
pub use header::HeaderKind;
pub use message::{Framing, Message, NameAddr, ParseError, Status, UriParts};
