//! Digest challenge (`WWW-Authenticate`, `Proxy-Authenticate`) and
//! credentials (`Authorization`, `Proxy-Authorization`) parameters.
//!
//! The scanner walks `scheme param=value, param="quoted \" value", ...`
//! leniently: any order and spacing, bare tokens or quoted strings with
//! escapes, unknown parameters kept, folded lines, several challenges in one
//! header. What it could not make sense of is recorded as a [`Problem`] so
//! the `malformed-credentials` rule can name it instead of failing.

use super::header::eq_known_name;
use super::message::trim;
use super::{Text, WideText};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use thin_vec::ThinVec;

/// Which header carried the challenge or the credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AuthHeader {
    #[serde(rename = "WWW-Authenticate")]
    WwwAuthenticate,
    #[serde(rename = "Proxy-Authenticate")]
    ProxyAuthenticate,
    #[serde(rename = "Authorization")]
    Authorization,
    #[serde(rename = "Proxy-Authorization")]
    ProxyAuthorization,
}

impl AuthHeader {
    pub fn name(self) -> &'static str {
        match self {
            AuthHeader::WwwAuthenticate => "WWW-Authenticate",
            AuthHeader::ProxyAuthenticate => "Proxy-Authenticate",
            AuthHeader::Authorization => "Authorization",
            AuthHeader::ProxyAuthorization => "Proxy-Authorization",
        }
    }
    /// The credentials header that answers this challenge header.
    pub fn answer(self) -> AuthHeader {
        match self {
            AuthHeader::WwwAuthenticate | AuthHeader::Authorization => AuthHeader::Authorization,
            AuthHeader::ProxyAuthenticate | AuthHeader::ProxyAuthorization => {
                AuthHeader::ProxyAuthorization
            }
        }
    }
}

/// One `name=value` of a digest header, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawParam<'a> {
    pub name: &'a [u8],
    /// Without the surrounding quotes; escapes still in place.
    pub value: &'a [u8],
    pub quoted: bool,
    /// A quoted value with a backslash in it (a quoted pair to resolve).
    pub escaped: bool,
}

impl<'a> RawParam<'a> {
    /// The value with quoted-pair escapes resolved, as text (lossy for
    /// invalid UTF-8, which is reported separately).
    #[inline]
    pub fn text(&self) -> Text {
        match self.plain() {
            Some(s) => Text::new(s),
            None => match self.text_cow() {
                Cow::Borrowed(b) => Text::new(b),
                Cow::Owned(o) => Text::from(o),
            },
        }
    }

    /// [`RawParam::text`] as a [`WideText`].
    #[inline]
    fn wide_text(&self) -> WideText {
        match self.plain() {
            Some(s) => WideText::new(s),
            None => WideText::from(self.text_cow()),
        }
    }

    /// The value as it is, when that is its text (ASCII without escapes):
    /// the quick way to the same text as [`RawParam::text_cow`].
    #[inline(always)]
    fn plain(&self) -> Option<&'a str> {
        if self.escaped {
            return None;
        }
        ascii_text(self.value)
    }

    /// Like [`RawParam::text`], borrowed when there is nothing to resolve.
    fn text_cow(&self) -> Cow<'a, str> {
        if !self.escaped {
            return lossy_text(self.value);
        }
        let mut out = Vec::with_capacity(self.value.len());
        let mut it = self.value.iter();
        while let Some(&c) = it.next() {
            if c == b'\\' {
                if let Some(&n) = it.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        Cow::Owned(lossy_text(&out).into_owned())
    }
}

/// `String::from_utf8_lossy`, with fast paths for ASCII (nearly every
/// value: checked a word at a time) and other valid UTF-8 (the standard
/// validation is quicker than the lossy chunk iterator). Same result.
pub fn lossy_text(b: &[u8]) -> Cow<'_, str> {
    if let Some(s) = ascii_text(b) {
        return Cow::Borrowed(s);
    }
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// The bytes as text when they are ASCII (nearly every value: checked a
/// word at a time), the quick way to what [`lossy_text`] gives them.
#[inline(always)]
pub(crate) fn ascii_text(b: &[u8]) -> Option<&str> {
    // SAFETY: ASCII is valid UTF-8.
    b.is_ascii()
        .then(|| unsafe { std::str::from_utf8_unchecked(b) })
}

/// Something the scanner had to work around.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub what: String,
}

/// One scheme with its parameters, borrowed.
#[derive(Clone, Debug, Default)]
pub struct RawAuth<'a> {
    pub scheme: &'a [u8],
    pub params: Vec<RawParam<'a>>,
    pub problems: Vec<Problem>,
}

impl<'a> RawAuth<'a> {
    pub fn get(&self, name: &str) -> Option<&RawParam<'a>> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// Byte classes of the scanner, one table lookup per byte.
const LWS: u8 = 1;
/// Ends a token: LWS, '=' or ','.
const TOKEN_END: u8 = 2;
/// May be in a token (a parameter name).
const TCHAR: u8 = 4;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b == b' ' || b == b'\t' || b == b'\r' || b == b'\n' {
            t[c] = LWS | TOKEN_END;
        }
        if b == b'=' || b == b',' {
            t[c] = TOKEN_END;
        }
        if b.is_ascii_alphanumeric() {
            t[c] = TCHAR;
        }
        let mut k = 0;
        let extra = b"!#$%&'*+-.^_`|~/:";
        while k < extra.len() {
            if extra[k] == b {
                t[c] = TCHAR;
            }
            k += 1;
        }
        c += 1;
    }
    t
};

fn is_lws(c: u8) -> bool {
    CLASS[usize::from(c)] & LWS != 0
}

/// Splits a header value into its schemes and parameters.
pub fn scan(value: &[u8]) -> Vec<RawAuth<'_>> {
    let mut out: Vec<RawAuth<'_>> = Vec::new();
    scan_into(value, &mut out);
    out
}

/// What the scanner finds, in order: a scheme begins a challenge or
/// credentials, and parameters and problems belong to the latest one.
trait ScanSink<'a> {
    fn scheme(&mut self, scheme: &'a [u8]);
    fn param(&mut self, param: RawParam<'a>);
    fn problem(&mut self, problem: Problem);
}

impl<'a> ScanSink<'a> for Vec<RawAuth<'a>> {
    fn scheme(&mut self, scheme: &'a [u8]) {
        self.push(RawAuth {
            scheme,
            params: Vec::new(),
            problems: Vec::new(),
        });
    }
    fn param(&mut self, param: RawParam<'a>) {
        if let Some(cur) = self.last_mut() {
            cur.params.push(param);
        }
    }
    fn problem(&mut self, problem: Problem) {
        if let Some(cur) = self.last_mut() {
            cur.problems.push(problem);
        }
    }
}

/// The scanner behind [`scan`], handing what it finds to `out` instead of
/// collecting it (no allocation unless something is malformed).
fn scan_into<'a>(value: &'a [u8], out: &mut impl ScanSink<'a>) {
    let mut started = false;
    let mut i = 0;
    let n = value.len();
    let quote_or_escape = crate::sip::message::TwoByteFinder::new(b'\\', b'"');
    let comma = crate::sip::message::ByteFinder::new(b',');
    let skip_lws = |i: &mut usize| {
        while *i < n && (is_lws(value[*i]) || value[*i] == b',') {
            *i += 1;
        }
    };
    skip_lws(&mut i);
    while i < n {
        // A token: either a scheme (followed by space and params) or a name.
        let start = i;
        // Whether every byte of the token may be in one, noted as it is
        // scanned (no second pass over the name).
        let mut classes = TCHAR;
        while i < n {
            let class = CLASS[usize::from(value[i])];
            if class & TOKEN_END != 0 {
                break;
            }
            classes &= class;
            i += 1;
        }
        let token = &value[start..i];
        let mut j = i;
        while j < n && is_lws(value[j]) {
            j += 1;
        }
        if j < n && value[j] == b'=' && !token.is_empty() {
            // name = value
            j += 1;
            while j < n && is_lws(value[j]) {
                j += 1;
            }
            if !started {
                started = true;
                out.scheme(b"");
                out.problem(Problem {
                    what: "no authentication scheme before the parameters".into(),
                });
            }
            if classes & TCHAR == 0 {
                out.problem(Problem {
                    what: format!(
                        "parameter name '{}' has characters a token may not have",
                        String::from_utf8_lossy(token)
                    ),
                });
            }
            if j < n && value[j] == b'"' {
                let vstart = j + 1;
                let mut k = vstart;
                let mut closed = false;
                let mut escaped = false;
                // To the closing quote, stepping over quoted pairs.
                while k < n {
                    match quote_or_escape.find(&value[k..]) {
                        Some(d) if value[k + d] == b'"' => {
                            k += d;
                            closed = true;
                            break;
                        }
                        Some(d) => {
                            escaped = true;
                            k += d + 2;
                        }
                        None => k = n,
                    }
                }
                let vend = k.min(n);
                out.param(RawParam {
                    name: token,
                    value: &value[vstart..vend],
                    quoted: true,
                    escaped,
                });
                if !closed {
                    out.problem(Problem {
                        what: format!(
                            "quoted value of '{}' is not closed",
                            String::from_utf8_lossy(token)
                        ),
                    });
                }
                i = (k + 1).min(n);
            } else {
                let vstart = j;
                let k = comma.find(&value[j..]).map_or(n, |d| j + d);
                let raw = trim(&value[vstart..k]);
                if !raw.is_ascii() {
                    out.problem(Problem {
                        what: format!(
                            "value of '{}' is not quoted with ASCII '\"' (typographic quotes or other non-ASCII characters)",
                            String::from_utf8_lossy(token)
                        ),
                    });
                }
                out.param(RawParam {
                    name: token,
                    value: raw,
                    quoted: false,
                    escaped: false,
                });
                i = k;
            }
            // After a value only LWS and a comma may follow.
            let mut k = i;
            while k < n && is_lws(value[k]) {
                k += 1;
            }
            if k < n && value[k] != b',' {
                // e.g. `nonce="a" realm="b"` without a comma: keep going.
                out.problem(Problem {
                    what: "parameters not separated by a comma".into(),
                });
            }
            i = k;
            skip_lws(&mut i);
        } else {
            // A scheme token begins a new challenge/credentials.
            if !token.is_empty() {
                started = true;
                out.scheme(token);
            } else {
                i += 1;
            }
            i = j.max(i);
            skip_lws(&mut i);
        }
    }
}

/// The digest parameters challenges and credentials know by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DigestParam {
    Username,
    Realm,
    Nonce,
    Uri,
    Response,
    Algorithm,
    Cnonce,
    Opaque,
    Qop,
    Nc,
    Userhash,
    Stale,
    Domain,
    Other,
}

impl DigestParam {
    /// By length first, then one compare per known name of that length
    /// that needs no branch per byte ([`eq_known_name`]; a chain of
    /// `eq_ignore_ascii_case` tried every name before `nc`).
    fn of(name: &[u8]) -> DigestParam {
        use DigestParam::*;
        match name.len() {
            2 if is_known(name, b"nc") => Nc,
            3 if is_known(name, b"uri") => Uri,
            3 if is_known(name, b"qop") => Qop,
            5 if is_known(name, b"realm") => Realm,
            5 if is_known(name, b"nonce") => Nonce,
            5 if is_known(name, b"stale") => Stale,
            6 if is_known(name, b"cnonce") => Cnonce,
            6 if is_known(name, b"opaque") => Opaque,
            6 if is_known(name, b"domain") => Domain,
            8 if is_known(name, b"username") => Username,
            8 if is_known(name, b"response") => Response,
            8 if is_known(name, b"userhash") => Userhash,
            9 if is_known(name, b"algorithm") => Algorithm,
            _ => Other,
        }
    }
}

/// Whether an authentication scheme is Digest, in any case: asked by
/// nearly every rule of every exchange.
#[inline]
fn is_digest_scheme(scheme: &str) -> bool {
    is_known(scheme.as_bytes(), b"digest")
}

/// `name` is `known` (lower-case letters) in any case: [`eq_known_name`]
/// when the lengths match.
#[inline(always)]
fn is_known<const N: usize>(name: &[u8], known: &[u8; N]) -> bool {
    <&[u8; N]>::try_from(name).is_ok_and(|name| eq_known_name(name, known))
}

/// A value shared by the places that show it instead of copied into each
/// (a challenge as issued, as answered by credentials, as remembered by
/// nonce). Reading derefs to the value; writing through `&mut` (e.g.
/// redaction) copies it first if it is shared, so every holder still sees
/// its own value, as with separate copies. Debug and JSON show the value.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Shared<T>(Arc<T>);

impl<T> Shared<T> {
    pub fn new(value: T) -> Shared<T> {
        Shared(Arc::new(value))
    }
}

impl<T> From<T> for Shared<T> {
    fn from(value: T) -> Shared<T> {
        Shared::new(value)
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone> DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.0)
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The qop values a challenge offers, kept as one comma-separated text
/// (inline up to 24 bytes: "auth", "auth,auth-int"), not a vector of
/// strings: a challenge is remembered as long as its nonce may be
/// answered, and most offer one or two short values. Serialized as the
/// list of values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct QopList(Text);

impl QopList {
    /// The values of a quoted list: split at commas, trimmed, empty ones
    /// dropped.
    pub fn parse(list: &str) -> QopList {
        // One value (nearly every challenge): the same as splitting.
        if !list.contains(',') {
            return QopList(Text::new(list.trim()));
        }
        let mut joined = Text::default();
        for v in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            if !joined.is_empty() {
                joined.push(',');
            }
            joined.push_str(v);
        }
        QopList(joined)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The offered values, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.split(',').filter(|v| !v.is_empty())
    }

    /// The values joined with commas ("auth,auth-int").
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for QopList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for QopList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for QopList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// A challenge from a 401/407, owned so it can outlive the packet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Challenge {
    pub scheme: Text,
    pub realm: Option<Text>,
    /// Nonces and opaques are usually 32 hex digits or more: inline in a
    /// [`WideText`] where a [`Text`] would allocate (less memory too).
    pub nonce: Option<WideText>,
    pub opaque: Option<WideText>,
    /// As written (e.g. "md5"); `None` means the default, MD5.
    pub algorithm: Option<Text>,
    /// The offered qop values, from the quoted list.
    pub qop: QopList,
    pub stale: bool,
    pub domain: Option<Text>,
    /// Rare: thin (8 bytes while empty) to keep the struct small.
    pub other: ThinVec<(String, String)>,
    pub problems: ThinVec<Problem>,
}

impl Challenge {
    pub fn is_digest(&self) -> bool {
        is_digest_scheme(&self.scheme)
    }

    /// Parses every challenge in one header value.
    pub fn parse_all(value: &[u8]) -> Vec<Challenge> {
        let mut out = Vec::new();
        Challenge::parse_each(value, |c| out.push(c));
        out
    }

    /// Like [`Challenge::parse_all`], handing each challenge to `each`
    /// instead of collecting them.
    pub fn parse_each(value: &[u8], each: impl FnMut(Challenge)) {
        let mut sink = ChallengeSink {
            current: None,
            each,
        };
        scan_into(value, &mut sink);
        if let Some(c) = sink.current.take() {
            (sink.each)(c);
        }
    }

    fn apply(&mut self, p: &RawParam<'_>) {
        match DigestParam::of(p.name) {
            DigestParam::Realm => self.realm = Some(p.text()),
            DigestParam::Nonce => self.nonce = Some(p.wide_text()),
            DigestParam::Opaque => self.opaque = Some(p.wide_text()),
            DigestParam::Algorithm => self.algorithm = Some(p.text()),
            DigestParam::Qop => self.qop = QopList::parse(&p.text_cow()),
            DigestParam::Stale => self.stale = p.text_cow().eq_ignore_ascii_case("true"),
            DigestParam::Domain => self.domain = Some(p.text()),
            _ => self
                .other
                .push((lossy_text(p.name).into_owned(), p.text_cow().into_owned())),
        }
    }

    /// The algorithm, upper-cased, with the RFC default.
    pub fn algorithm_or_default(&self) -> Cow<'_, str> {
        upper_or_md5(self.algorithm.as_deref())
    }
}

/// An algorithm name in upper case, MD5 when absent; borrowed when it is
/// already upper case (as it nearly always is).
fn upper_or_md5(algorithm: Option<&str>) -> Cow<'_, str> {
    match algorithm {
        None => Cow::Borrowed("MD5"),
        Some(a) if !a.bytes().any(|b| b.is_ascii_lowercase()) => Cow::Borrowed(a),
        Some(a) => Cow::Owned(a.to_ascii_uppercase()),
    }
}

/// Builds one challenge per scheme, straight from the scanner, and hands
/// each over when the next begins (the last one after the scan).
struct ChallengeSink<F: FnMut(Challenge)> {
    current: Option<Challenge>,
    each: F,
}

impl<'a, F: FnMut(Challenge)> ScanSink<'a> for ChallengeSink<F> {
    fn scheme(&mut self, scheme: &'a [u8]) {
        let next = Challenge {
            scheme: Text::new(lossy_text(scheme)),
            ..Default::default()
        };
        if let Some(done) = self.current.replace(next) {
            (self.each)(done);
        }
    }
    fn param(&mut self, param: RawParam<'a>) {
        if let Some(c) = &mut self.current {
            c.apply(&param);
        }
    }
    fn problem(&mut self, problem: Problem) {
        if let Some(c) = &mut self.current {
            c.problems.push(problem);
        }
    }
}

/// Fills credentials from the first scheme only, straight from the scanner.
struct CredentialsSink {
    c: Credentials,
    schemes: usize,
}

impl<'a> ScanSink<'a> for CredentialsSink {
    fn scheme(&mut self, scheme: &'a [u8]) {
        self.schemes += 1;
        if self.schemes == 1 {
            self.c.scheme = Text::new(lossy_text(scheme));
        }
    }
    fn param(&mut self, param: RawParam<'a>) {
        if self.schemes == 1 {
            self.c.apply(&param);
        }
    }
    fn problem(&mut self, problem: Problem) {
        if self.schemes == 1 {
            self.c.problems.push(problem);
        }
    }
}

/// Credentials from an Authorization/Proxy-Authorization header, owned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Credentials {
    pub scheme: Text,
    pub username: Option<Text>,
    pub realm: Option<Text>,
    pub nonce: Option<WideText>,
    pub uri: Option<WideText>,
    pub response: Option<WideText>,
    pub algorithm: Option<Text>,
    pub cnonce: Option<WideText>,
    pub opaque: Option<WideText>,
    pub qop: Option<Text>,
    pub nc: Option<Text>,
    pub userhash: bool,
    /// Rare: thin (8 bytes while empty) to keep the struct small.
    pub other: ThinVec<(String, String)>,
    pub problems: ThinVec<Problem>,
}

impl Credentials {
    pub fn is_digest(&self) -> bool {
        is_digest_scheme(&self.scheme)
    }

    /// Parses the (first) credentials in one header value, noting what is
    /// malformed: missing required parameters, non-ASCII quoting, junk.
    pub fn parse(value: &[u8]) -> Credentials {
        let mut sink = CredentialsSink {
            c: Credentials::default(),
            schemes: 0,
        };
        scan_into(value, &mut sink);
        let mut c = sink.c;
        if sink.schemes == 0 {
            c.problems.push(Problem {
                what: "empty credentials header".into(),
            });
            return c;
        }
        if c.is_digest() {
            for (name, present) in [
                ("username", c.username.is_some()),
                ("realm", c.realm.is_some()),
                ("nonce", c.nonce.is_some()),
                ("uri", c.uri.is_some()),
                ("response", c.response.is_some()),
            ] {
                if !present {
                    c.problems.push(Problem {
                        what: format!("required parameter '{name}' is missing"),
                    });
                }
            }
        }
        if !value.is_ascii() {
            let text = String::from_utf8_lossy(value);
            if text.contains([
                '\u{201C}', '\u{201D}', '\u{2018}', '\u{2019}', '\u{00AB}', '\u{00BB}',
            ]) {
                c.problems.push(Problem {
                    what: "typographic quotes (“ ” ‘ ’) instead of ASCII '\"': probably pasted from a web page or document".into(),
                });
            } else if !c.problems.iter().any(|p| p.what.contains("non-ASCII")) {
                c.problems.push(Problem {
                    what: "non-ASCII characters in the header".into(),
                });
            }
        }
        c
    }

    fn apply(&mut self, p: &RawParam<'_>) {
        let v = || Some(p.text());
        let wide = || Some(p.wide_text());
        match DigestParam::of(p.name) {
            DigestParam::Username => self.username = v(),
            DigestParam::Realm => self.realm = v(),
            DigestParam::Nonce => self.nonce = wide(),
            DigestParam::Uri => self.uri = wide(),
            DigestParam::Response => self.response = wide(),
            DigestParam::Algorithm => self.algorithm = v(),
            DigestParam::Cnonce => self.cnonce = wide(),
            DigestParam::Opaque => self.opaque = wide(),
            DigestParam::Qop => self.qop = v(),
            DigestParam::Nc => self.nc = v(),
            DigestParam::Userhash => {
                self.userhash = p.text_cow().eq_ignore_ascii_case("true");
            }
            DigestParam::Stale | DigestParam::Domain | DigestParam::Other => self
                .other
                .push((lossy_text(p.name).into_owned(), p.text_cow().into_owned())),
        }
    }

    pub fn algorithm_or_default(&self) -> Cow<'_, str> {
        upper_or_md5(self.algorithm.as_deref())
    }

    /// The digest username without a trailing `@domain` (or a bare `@`).
    pub fn user_part(&self) -> Option<&str> {
        self.username
            .as_deref()
            .map(|u| u.split_once('@').map(|(a, _)| a).unwrap_or(u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// Every name [`DigestParam::of`] knows, with what it is.
    const KNOWN: [(&str, DigestParam); 13] = [
        ("nc", DigestParam::Nc),
        ("uri", DigestParam::Uri),
        ("qop", DigestParam::Qop),
        ("realm", DigestParam::Realm),
        ("nonce", DigestParam::Nonce),
        ("stale", DigestParam::Stale),
        ("cnonce", DigestParam::Cnonce),
        ("opaque", DigestParam::Opaque),
        ("domain", DigestParam::Domain),
        ("username", DigestParam::Username),
        ("response", DigestParam::Response),
        ("userhash", DigestParam::Userhash),
        ("algorithm", DigestParam::Algorithm),
    ];

    /// Changes to a known word: bytes XORed with one bit or another (0x20
    /// is the other case of a letter; 0x40 and 0x60 make control and
    /// punctuation bytes that would become the letter again if a compare
    /// ORed more than 0x20 into them), then a byte cut (1) or added (2).
    fn bit_edits() -> impl proptest::strategy::Strategy<Value = (Vec<(usize, u8)>, usize)> {
        (
            proptest::collection::vec(
                (
                    0..10usize,
                    proptest::sample::select(vec![0x20u8, 0x40, 0x60, 0x80, 0x01, 0x21]),
                ),
                0..4,
            ),
            0..3usize,
        )
    }

    fn edited(word: &str, (edits, cut): &(Vec<(usize, u8)>, usize)) -> Vec<u8> {
        let mut out = word.as_bytes().to_vec();
        for &(at, flip) in edits {
            if let Some(b) = out.get_mut(at) {
                *b ^= flip;
            }
        }
        match cut {
            1 => {
                out.pop();
            }
            2 => out.push(b'x'),
            _ => {}
        }
        out
    }

    proptest::proptest! {
        /// Known exactly when `eq_ignore_ascii_case` says so.
        #[test]
        fn parameter_names_compare_as_eq_ignore_ascii_case(
            known in 0..KNOWN.len(),
            edits in bit_edits(),
        ) {
            let name = edited(KNOWN[known].0, &edits);
            let want = KNOWN
                .iter()
                .find(|(k, _)| name.eq_ignore_ascii_case(k.as_bytes()))
                .map_or(DigestParam::Other, |&(_, p)| p);
            proptest::prop_assert_eq!(DigestParam::of(&name), want, "{:?}", String::from_utf8_lossy(&name));
        }

        #[test]
        fn the_digest_scheme_is_known_as_eq_ignore_ascii_case_knows_it(edits in bit_edits()) {
            let scheme = edited("Digest", &edits);
            let scheme = String::from_utf8_lossy(&scheme);
            proptest::prop_assert_eq!(
                is_digest_scheme(&scheme),
                scheme.eq_ignore_ascii_case("digest"),
                "{:?}",
                scheme
            );
        }
    }

    #[test]
    fn parameter_names_are_known_in_any_case() {
        use DigestParam::*;
        for (name, want) in [
            ("username", Username),
            ("REALM", Realm),
            ("Nonce", Nonce),
            ("uri", Uri),
            ("response", Response),
            ("Algorithm", Algorithm),
            ("cnonce", Cnonce),
            ("opaque", Opaque),
            ("QOP", Qop),
            ("nc", Nc),
            ("userhash", Userhash),
            ("stale", Stale),
            ("domain", Domain),
            ("usernam", Other),
            ("nonces", Other),
            ("n", Other),
            ("", Other),
            ("realm ", Other),
        ] {
            assert_eq!(DigestParam::of(name.as_bytes()), want, "{name:?}");
        }
    }

    #[test]
    fn byte_classes_are_the_definitions() {
        for c in 0..=255u8 {
            let lws = matches!(c, b' ' | b'\t' | b'\r' | b'\n');
            assert_eq!(is_lws(c), lws, "{c}");
            assert_eq!(
                CLASS[usize::from(c)] & TCHAR != 0,
                c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&c),
                "{c}"
            );
            assert_eq!(
                CLASS[usize::from(c)] & TOKEN_END != 0,
                lws || c == b'=' || c == b',',
                "{c}"
            );
        }
    }

    #[test]
    fn challenge_any_order_spacing_qop_list() {
        let cs = Challenge::parse_all(
            b"Digest  qop = \"auth,auth-int\" ,realm=\"domain.xyz\", nonce=\"abc\",\r\n algorithm=md5,stale=TRUE, opaque=\"o\\\"q\", foo=bar",
        );
        assert_eq!(cs.len(), 1);
        let c = &cs[0];
        assert!(c.is_digest());
        assert_eq!(c.realm.as_deref(), Some("domain.xyz"));
        assert_eq!(c.nonce.as_deref(), Some("abc"));
        assert_eq!(c.qop.iter().collect::<Vec<_>>(), ["auth", "auth-int"]);
        assert_eq!(c.qop.as_str(), "auth,auth-int");
        assert_eq!(c.algorithm.as_deref(), Some("md5"));
        assert_eq!(c.algorithm_or_default(), "MD5");
        assert!(c.stale);
        assert_eq!(c.opaque.as_deref(), Some("o\"q"));
        assert_eq!(c.other, vec![("foo".to_string(), "bar".to_string())]);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
    }

    #[test]
    fn several_challenges_in_one_header() {
        let cs = Challenge::parse_all(
            b"Digest realm=\"a\", nonce=\"1\", algorithm=SHA-256, Digest realm=\"a\", nonce=\"2\", algorithm=MD5",
        );
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].algorithm.as_deref(), Some("SHA-256"));
        assert_eq!(cs[1].nonce.as_deref(), Some("2"));
    }

    #[test]
    fn credentials_all_fields() {
        let c = Credentials::parse(
            b"Digest username=\"bob\",realm=\"lab.example\",nonce=\"n1\",uri=\"sip:lab.example\",response=\"0123\",cnonce=\"c\",nc=00000001,qop=auth,algorithm=MD5,opaque=\"op\"",
        );
        assert_eq!(c.username.as_deref(), Some("bob"));
        assert_eq!(c.nc.as_deref(), Some("00000001"));
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(c.cnonce.as_deref(), Some("c"));
        assert_eq!(c.opaque.as_deref(), Some("op"));
        assert!(c.problems.is_empty(), "{:?}", c.problems);
    }

    #[test]
    fn credentials_missing_required_and_typographic_quotes() {
        let c = Credentials::parse(
            "Digest username=“bob”, realm=\"r\", nonce=\"n\", uri=\"sip:x\"".as_bytes(),
        );
        assert!(c
            .problems
            .iter()
            .any(|p| p.what.contains("'response' is missing")));
        assert!(c.problems.iter().any(|p| p.what.contains("typographic")));
    }

    #[test]
    fn nc_quoted_and_user_part() {
        let c = Credentials::parse(
            b"Digest username=\"alice@\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"x\", nc=\"00000001\"",
        );
        assert_eq!(c.nc.as_deref(), Some("00000001"));
        assert_eq!(c.username.as_deref(), Some("alice@"));
        assert_eq!(c.user_part(), Some("alice"));
    }

    #[test]
    fn shared_reads_as_the_value_and_copies_on_write() {
        let c = Challenge::parse_all(b"Digest realm=\"r\", nonce=\"n\"").remove(0);
        let a = Shared::new(c.clone());
        let mut b = a.clone();
        assert_eq!(a.nonce.as_deref(), Some("n"));
        assert_eq!(format!("{a:?}"), format!("{c:?}"));
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&c).unwrap()
        );
        // Writing through one holder (as redaction does) leaves the other.
        b.nonce = Some("[nonce-1]".into());
        assert_eq!(a.nonce.as_deref(), Some("n"));
        assert_eq!(b.nonce.as_deref(), Some("[nonce-1]"));
    }

    #[test]
    fn parse_each_hands_over_every_challenge_in_order() {
        let v = b"Digest realm=\"a\", nonce=\"1\", Basic realm=\"b\", Digest nonce=\"3\"";
        let mut seen = Vec::new();
        Challenge::parse_each(v, |c| seen.push(c));
        assert_eq!(seen, Challenge::parse_all(v));
        let schemes: Vec<_> = seen.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Digest", "Basic", "Digest"]);
        assert_eq!(seen[2].nonce.as_deref(), Some("3"));
    }

    /// A quoted value ends at the first '"' that no backslash escapes,
    /// found byte by byte; its text resolves each backslash pair.
    fn quoted_by_hand(rest: &[u8]) -> (&[u8], bool, Vec<u8>) {
        let (mut i, mut escaped, mut text) = (0, false, Vec::new());
        while i < rest.len() {
            match rest[i] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    text.extend(rest.get(i + 1));
                    i += 2;
                }
                c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        (&rest[..i.min(rest.len())], escaped, text)
    }

    proptest::proptest! {
        /// Quoted values with backslashes and quotes anywhere, shorter and
        /// longer than one 16-byte block of the vectorised search.
        #[test]
        fn quoted_values_end_where_a_byte_by_byte_scan_ends_them(
            body in proptest::collection::vec(
                proptest::sample::select(b"ab\\\"\\, =".to_vec()), 0..48),
        ) {
            let header = [&b"Digest realm=\""[..], &body, b"\", nonce=\"n1\""].concat();
            let rest = &header[b"Digest realm=\"".len()..];
            let (value, escaped, text) = quoted_by_hand(rest);
            let auths = scan(&header);
            let first = &auths[0].params[0];
            proptest::prop_assert_eq!(first.name, &b"realm"[..]);
            proptest::prop_assert_eq!(first.value, value);
            proptest::prop_assert_eq!(first.escaped, escaped);
            let got = first.text();
            proptest::prop_assert_eq!(got.as_str(), String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn unclosed_quote_is_a_problem_not_a_panic() {
        let c = Credentials::parse(b"Digest username=\"bob, realm=\"r");
        assert!(!c.problems.is_empty());
        let cs = Challenge::parse_all(b"Digest realm=\"");
        assert_eq!(cs.len(), 1);
        let cs = Challenge::parse_all(b"=,,=\"\\");
        assert!(!cs.is_empty());
    }
}
