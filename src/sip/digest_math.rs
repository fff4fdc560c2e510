//! Digest response computation (RFC 2069, RFC 2617, RFC 7616, RFC 8760):
//! MD5, SHA-256 and SHA-512/256, each plain or `-sess`, with qop absent,
//! `auth` or `auth-int`.
//!
//! ```text
//! HA1  = H(username ":" realm ":" password)
//! HA1  = H(HA1 ":" nonce ":" cnonce)                    -sess algorithms
//! HA2  = H(method ":" uri)                              qop absent or auth
//! HA2  = H(method ":" uri ":" H(body))                  qop auth-int
//! resp = H(HA1 ":" nonce ":" HA2)                       qop absent (RFC 2069)
//! resp = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)
//! ```
//!
//! HA1 is split into [`ha1_base`] (depends on the password only through
//! user, realm and algorithm, so callers can cache it) and [`ha1_session`].

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use std::fmt;

/// The hash function behind an algorithm token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashKind {
    Md5,
    Sha256,
    Sha512_256,
}

impl HashKind {
    /// Lower-case hex digest of the concatenated parts.
    pub fn hex(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            to_hex(&d.finalize())
        }
        match self {
            HashKind::Md5 => run::<Md5>(parts),
            HashKind::Sha256 => run::<Sha256>(parts),
            HashKind::Sha512_256 => run::<Sha512_256>(parts),
        }
    }

    /// Length of the hex digest.
    pub fn hex_len(self) -> usize {
        match self {
            HashKind::Md5 => 32,
            HashKind::Sha256 | HashKind::Sha512_256 => 64,
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// A digest algorithm (the `algorithm=` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
    Sha512_256,
    Sha512_256Sess,
}

impl Algorithm {
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
        Algorithm::Sha512_256,
        Algorithm::Sha512_256Sess,
    ];

    /// Parses an algorithm token, case-insensitively; `None` for anything
    /// else (e.g. `AKAv1-MD5`).
    pub fn parse(token: &str) -> Option<Algorithm> {
        let t = token.trim();
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(t))
    }

    /// The algorithm of an `algorithm=` parameter; absent means MD5.
    pub fn from_param(param: Option<&str>) -> Option<Algorithm> {
        match param {
            None => Some(Algorithm::Md5),
            Some(t) => Algorithm::parse(t),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    pub fn hash(self) -> HashKind {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashKind::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashKind::Sha256,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => HashKind::Sha512_256,
        }
    }

    pub fn is_session(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// The algorithm without `-sess`: its HA1 base is shared.
    pub fn base(self) -> Algorithm {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => Algorithm::Sha512_256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Quality of protection as used in the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Qop {
    /// No qop: the RFC 2069 response.
    None,
    Auth,
    AuthInt,
}

impl Qop {
    /// The qop of an answer's `qop=` parameter; `None` when it is a value
    /// the math does not know.
    pub fn from_param(param: Option<&str>) -> Option<Qop> {
        match param.map(str::trim) {
            None => Some(Qop::None),
            Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
            Some(q) if q.eq_ignore_ascii_case("auth-int") => Some(Qop::AuthInt),
            Some(_) => None,
        }
    }

    pub fn token(self) -> Option<&'static str> {
        match self {
            Qop::None => None,
            Qop::Auth => Some("auth"),
            Qop::AuthInt => Some("auth-int"),
        }
    }
}

/// `H(username ":" realm ":" password)`, hex. The same for an algorithm
/// and its `-sess` variant.
pub fn ha1_base(hash: HashKind, username: &str, realm: &str, password: &[u8]) -> String {
    hash.hex(&[username.as_bytes(), b":", realm.as_bytes(), b":", password])
}

/// The HA1 used in the response: the base, or for `-sess` algorithms
/// `H(base ":" nonce ":" cnonce)`. `None` when a session algorithm has no
/// cnonce to work with.
pub fn ha1_session(
    algorithm: Algorithm,
    base: &str,
    nonce: &str,
    cnonce: Option<&str>,
) -> Option<String> {
    if !algorithm.is_session() {
        return Some(base.to_string());
    }
    let cnonce = cnonce?;
    Some(algorithm.hash().hex(&[
        base.as_bytes(),
        b":",
        nonce.as_bytes(),
        b":",
        cnonce.as_bytes(),
    ]))
}

/// Everything besides HA1 that goes into a response, as the client sent
/// it (or as a forensic variation supposes it computed it).
#[derive(Clone, Copy, Debug)]
pub struct ResponseInput<'a> {
    pub algorithm: Algorithm,
    pub nonce: &'a str,
    pub cnonce: Option<&'a str>,
    pub nc: Option<&'a str>,
    pub qop: Qop,
    pub method: &'a str,
    pub uri: &'a str,
    /// The request body, needed for `auth-int` only.
    pub body: Option<&'a [u8]>,
}

/// The response for a final HA1 (after [`ha1_session`]). `None` when the
/// input cannot give one: qop without cnonce/nc, auth-int without body.
pub fn response(ha1: &str, input: &ResponseInput<'_>) -> Option<String> {
    let h = input.algorithm.hash();
    let ha2 = match input.qop {
        Qop::None | Qop::Auth => h.hex(&[input.method.as_bytes(), b":", input.uri.as_bytes()]),
        Qop::AuthInt => {
            let body_hash = h.hex(&[input.body?]);
            h.hex(&[
                input.method.as_bytes(),
                b":",
                input.uri.as_bytes(),
                b":",
                body_hash.as_bytes(),
            ])
        }
    };
    Some(match input.qop.token() {
        None => h.hex(&[
            ha1.as_bytes(),
            b":",
            input.nonce.as_bytes(),
            b":",
            ha2.as_bytes(),
        ]),
        Some(qop) => h.hex(&[
            ha1.as_bytes(),
            b":",
            input.nonce.as_bytes(),
            b":",
            input.nc?.as_bytes(),
            b":",
            input.cnonce?.as_bytes(),
            b":",
            qop.as_bytes(),
            b":",
            ha2.as_bytes(),
        ]),
    })
}

/// The whole computation from the password, for tests and one-off checks.
pub fn compute(
    username: &str,
    realm: &str,
    password: &[u8],
    input: &ResponseInput<'_>,
) -> Option<String> {
    let base = ha1_base(input.algorithm.hash(), username, realm, password);
    let ha1 = ha1_session(input.algorithm, &base, input.nonce, input.cnonce)?;
    response(&ha1, input)
}

/// Compares a response as sent with a computed one: hex, any case,
/// surrounding space ignored.
pub fn response_eq(sent: &str, computed: &str) -> bool {
    sent.trim().eq_ignore_ascii_case(computed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        algorithm: Algorithm,
        qop: Qop,
        nonce: &'a str,
        cnonce: Option<&'a str>,
        method: &'a str,
        uri: &'a str,
    ) -> ResponseInput<'a> {
        ResponseInput {
            algorithm,
            nonce,
            cnonce,
            nc: Some("00000001"),
            qop,
            method,
            uri,
            body: None,
        }
    }

    #[test]
    fn rfc2617_md5_auth_vector() {
        let i = input(
            Algorithm::Md5,
            Qop::Auth,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some("0a4f113b"),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(
            compute("Mufasa", "testrealm@host.com", b"Circle Of Life", &i).as_deref(),
            Some("6629fae49393a05397450978507c4ef1")
        );
    }

    #[test]
    fn rfc7616_sha256_auth_vector_and_md5_companion() {
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let mut i = input(
            Algorithm::Sha256,
            Qop::Auth,
            nonce,
            Some(cnonce),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(
            compute("Mufasa", "http-auth@example.org", b"Circle of Life", &i).as_deref(),
            Some("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
        );
        // RFC 7616 §3.9.1 gives the MD5 response of the same exchange too.
        i.algorithm = Algorithm::Md5;
        assert_eq!(
            compute("Mufasa", "http-auth@example.org", b"Circle of Life", &i).as_deref(),
            Some("8ca523f5e9506fed4657c9700eebdbec")
        );
    }

    #[test]
    fn sha512_256_auth() {
        // Expected value obtained independently with Python:
        //   import hashlib
        //   H=lambda s: hashlib.new('sha512_256', s.encode()).hexdigest()
        //   ha1=H('alice:lab.example:Wonder1and')
        //   ha2=H('REGISTER:sip:lab.example')
        //   H(f'{ha1}:n1:00000001:c1:auth:{ha2}')
        let i = input(
            Algorithm::Sha512_256,
            Qop::Auth,
            "n1",
            Some("c1"),
            "REGISTER",
            "sip:lab.example",
        );
        assert_eq!(
            compute("alice", "lab.example", b"Wonder1and", &i).as_deref(),
            Some("a24ac0833ad9cd444eaaa427546a34a7918cc8d912ca5ea0da13dad175fafa74")
        );
    }

    #[test]
    fn md5_auth_int_with_body() {
        // Expected value obtained independently with Python:
        //   import hashlib; H=lambda s: hashlib.md5(s.encode()).hexdigest()
        //   ha1=H('alice:lab.example:Wonder1and')
        //   ha2=H('INVITE:sip:bob@lab.example:'+H('v=0\r\n'))
        //   H(f'{ha1}:n1:00000001:c1:auth-int:{ha2}')
        let mut i = input(
            Algorithm::Md5,
            Qop::AuthInt,
            "n1",
            Some("c1"),
            "INVITE",
            "sip:bob@lab.example",
        );
        assert_eq!(compute("alice", "lab.example", b"Wonder1and", &i), None);
        i.body = Some(b"v=0\r\n");
        assert_eq!(
            compute("alice", "lab.example", b"Wonder1and", &i).as_deref(),
            Some("daf6d04b51f059595a8266e087a7d1ed")
        );
    }

    #[test]
    fn sess_and_rfc2069() {
        // Python: ha1=H(H('alice:lab.example:Wonder1and')+':n1:c1');
        //   ha2=H('REGISTER:sip:lab.example'); H(f'{ha1}:n1:00000001:c1:auth:{ha2}')
        let i = input(
            Algorithm::Md5Sess,
            Qop::Auth,
            "n1",
            Some("c1"),
            "REGISTER",
            "sip:lab.example",
        );
        assert_eq!(
            compute("alice", "lab.example", b"Wonder1and", &i).as_deref(),
            Some("cec0bbf951248b8646238a44180226d0")
        );
        // Python: H(H('alice:lab.example:Wonder1and')+':n1:'+H('REGISTER:sip:lab.example'))
        let mut i = input(
            Algorithm::Md5,
            Qop::None,
            "n1",
            None,
            "REGISTER",
            "sip:lab.example",
        );
        i.nc = None;
        assert_eq!(
            compute("alice", "lab.example", b"Wonder1and", &i).as_deref(),
            Some("7bc8d7d0f952310d13c23430edd22725")
        );
        // A session algorithm or qop without cnonce cannot be computed.
        let i = input(
            Algorithm::Sha256Sess,
            Qop::Auth,
            "n1",
            None,
            "REGISTER",
            "sip:lab.example",
        );
        assert_eq!(compute("alice", "lab.example", b"Wonder1and", &i), None);
    }

    #[test]
    fn tokens_case_insensitive() {
        assert_eq!(Algorithm::parse("md5"), Some(Algorithm::Md5));
        assert_eq!(
            Algorithm::parse("sha-256-SESS"),
            Some(Algorithm::Sha256Sess)
        );
        assert_eq!(Algorithm::parse("SHA-512-256"), Some(Algorithm::Sha512_256));
        assert_eq!(Algorithm::parse("AKAv1-MD5"), None);
        assert_eq!(Algorithm::from_param(None), Some(Algorithm::Md5));
        assert_eq!(Qop::from_param(Some("AUTH")), Some(Qop::Auth));
        assert_eq!(Qop::from_param(Some("auth-int")), Some(Qop::AuthInt));
        assert_eq!(Qop::from_param(Some("auth,auth-int")), None);
        assert!(response_eq(" ABCDEF ", "abcdef"));
    }
}
