//! [`WideText`]: a string taken from a message and kept, inline up to
//! [`INLINE`] bytes, for the values that are usually just longer than the
//! 24 bytes [`super::Text`] (compact_str) keeps inline: MD5 nonces and
//! responses (32 hex digits) and Call-IDs (25-40 characters) in the
//! credentials and requests of an exchange. With 38 bytes inline nearly
//! none of them is allocated (every nonce and Call-ID of the captures in
//! ../shared fits); the type is 40 bytes. Only where values live as long
//! as their exchange: used everywhere, the larger type added 3 MiB to the
//! peak of a 200 MB run through the challenges remembered per nonce
//! (docs/performance.md).

use serde::{Deserialize, Serialize};
use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The longest text kept without an allocation.
pub const INLINE: usize = 38;

/// An owned string, inline up to [`INLINE`] bytes; derefs to `str`.
#[derive(Clone)]
pub struct WideText(Repr);

#[derive(Clone)]
enum Repr {
    /// `bytes[..len]` is valid UTF-8 (it is only ever copied from a `str`).
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

impl WideText {
    /// A copy of `s`.
    pub fn new(s: impl AsRef<str>) -> WideText {
        let s = s.as_ref();
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            WideText(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            WideText(Repr::Heap(s.into()))
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: the inline bytes are a copy of a whole `str` (see
            // `WideText::new`), never changed in place.
            Repr::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..usize::from(*len)])
            },
            Repr::Heap(s) => s,
        }
    }

    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Heap(s) => s.into_string(),
            Repr::Inline { .. } => self.as_str().to_owned(),
        }
    }

    /// Whether the text lives on the heap (longer than [`INLINE`]).
    pub fn is_heap_allocated(&self) -> bool {
        matches!(self.0, Repr::Heap(_))
    }
}

impl Default for WideText {
    fn default() -> WideText {
        WideText(Repr::Inline {
            len: 0,
            bytes: [0; INLINE],
        })
    }
}

impl Deref for WideText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for WideText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for WideText {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Borrow<str> for WideText {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for WideText {
    fn from(s: &str) -> WideText {
        WideText::new(s)
    }
}

impl From<&String> for WideText {
    fn from(s: &String) -> WideText {
        WideText::new(s)
    }
}

impl From<String> for WideText {
    fn from(s: String) -> WideText {
        if s.len() <= INLINE {
            WideText::new(s)
        } else {
            WideText(Repr::Heap(s.into_boxed_str()))
        }
    }
}

impl From<Cow<'_, str>> for WideText {
    fn from(s: Cow<'_, str>) -> WideText {
        match s {
            Cow::Borrowed(b) => WideText::new(b),
            Cow::Owned(o) => WideText::from(o),
        }
    }
}

impl From<WideText> for String {
    fn from(t: WideText) -> String {
        t.into_string()
    }
}

impl PartialEq for WideText {
    fn eq(&self, other: &WideText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for WideText {}

impl PartialEq<str> for WideText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for WideText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for WideText {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<WideText> for str {
    fn eq(&self, other: &WideText) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<WideText> for &str {
    fn eq(&self, other: &WideText) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<WideText> for String {
    fn eq(&self, other: &WideText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for WideText {
    fn partial_cmp(&self, other: &WideText) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for WideText {
    fn cmp(&self, other: &WideText) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Hashes as the `str` does, so maps keyed by `WideText` can be looked up by
/// `&str` (see `Borrow<str>`).
impl Hash for WideText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for WideText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for WideText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for WideText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WideText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<WideText, D::Error> {
        Cow::<'de, str>::deserialize(d).map(WideText::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn inline_up_to_the_limit_then_heap() {
        let at = "n".repeat(INLINE);
        let over = "n".repeat(INLINE + 1);
        assert!(!WideText::new(&at).is_heap_allocated());
        assert!(WideText::new(&over).is_heap_allocated());
        assert!(WideText::from(over.clone()).is_heap_allocated());
        assert_eq!(WideText::new(&at), at.as_str());
        assert_eq!(WideText::from(over.clone()).into_string(), over);
        assert_eq!(std::mem::size_of::<WideText>(), 40);
    }

    #[test]
    fn behaves_like_the_str_it_holds() {
        for s in [
            "",
            "é",
            "Digest",
            "f6a3fc607342a1235ffa2ca9f9f2c78b",
            &"ü".repeat(40),
        ] {
            let t = WideText::new(s);
            assert_eq!(t.as_str(), s);
            assert_eq!(t.len(), s.len());
            assert_eq!(format!("{t}"), s);
            assert_eq!(format!("{t:?}"), format!("{s:?}"));
            assert_eq!(String::from(t.clone()), s);
            assert_eq!(WideText::from(Cow::Borrowed(s)), t);
            assert_eq!(WideText::from(s.to_string()), t);
        }
        assert!(WideText::new("a") < WideText::new("b"));
        assert_eq!(WideText::default(), "");
    }

    #[test]
    fn map_keys_are_found_by_str() {
        let mut m = HashMap::new();
        m.insert(WideText::new("alice"), 1);
        m.insert(WideText::new("b".repeat(60)), 2);
        assert_eq!(m.get("alice"), Some(&1));
        assert_eq!(m.get("b".repeat(60).as_str()), Some(&2));
    }

    #[test]
    fn serializes_as_a_string() {
        let t = WideText::new("a\"b");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"a\\\"b\"");
        let back: WideText = serde_json::from_str("\"a\\\"b\"").unwrap();
        assert_eq!(back, t);
    }
}
