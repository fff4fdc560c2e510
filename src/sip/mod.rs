//! SIP: framing, the zero-copy message, digest parameters.

pub mod digest;
pub mod digest_math;
pub mod header;
pub mod message;
pub mod text;

pub use digest::{AuthHeader, Challenge, Credentials, Shared};
pub use header::HeaderKind;
pub use message::{Framing, Message, NameAddr, ParseError, Status, UriParts};

/// Text taken from a message and kept (parameter values, tags, branches):
/// up to 24 bytes live inline, without an allocation, which covers most
/// SIP tokens (realms, usernames, nc, qop, algorithm, short branches).
pub type Text = compact_str::CompactString;
pub use text::WideText;
