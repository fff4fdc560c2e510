//! Property tests: the parsers never panic on arbitrary bytes, and what
//! they take apart can be put back together and parsed to the same parts.

use proptest::prelude::*;
use sipauth_diag::capture::{open_reader, pcap, CaptureReader};
use sipauth_diag::sip::digest::QopList;
use sipauth_diag::sip::message::StartLine;
use sipauth_diag::sip::{Challenge, Credentials, Framing, Message, Status, Text, WideText};

/// Bytes that are mostly SIP-ish text, so the interesting paths are hit.
fn sipish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"REGISTER sip:a SIP/2.0\r\n".to_vec()),
        Just(b"SIP/2.0 401 Unauthorized\r\n".to_vec()),
        Just(b"Content-Length: 5\r\n".to_vec()),
        Just(b"l: 99999999999\r\n".to_vec()),
        Just(b"Call-ID: x\r\n".to_vec()),
        Just(b"CSeq: 1 REGISTER\r\n".to_vec()),
        Just(b"WWW-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b" folded\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..12),
    ];
    let start = prop_oneof![
        Just(b"INVITE sip:bob@b SIP/2.0\r\n".to_vec()),
        Just(b"SIP/2.0 407 Proxy Authentication Required\n".to_vec()),
        Just(Vec::new()),
    ];
    (start, prop::collection::vec(piece, 0..24)).prop_map(|(s, v)| [s, v.concat()].concat())
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..512), sipish_bytes()]
}

/// The parts of a parsed message that must survive a rebuild.
#[derive(Debug, PartialEq, Eq)]
struct Parts {
    start: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

fn parts(m: &Message<'_>) -> Parts {
    Parts {
        start: format!("{:?}", m.start),
        headers: m
            .headers()
            .iter()
            .map(|h| (h.name.to_vec(), h.value.to_vec()))
            .collect(),
        body: m.body.to_vec(),
    }
}

/// Writes a message back from its parts, CRLF line ends.
fn rebuild(m: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    match m.start {
        StartLine::Request { method, uri } => {
            out.extend_from_slice(method);
            out.push(b' ');
            out.extend_from_slice(uri);
            out.extend_from_slice(b" SIP/2.0\r\n");
        }
        StartLine::Response { status, reason } => {
            out.extend_from_slice(format!("SIP/2.0 {status:03} ").as_bytes());
            out.extend_from_slice(reason);
            out.extend_from_slice(b"\r\n");
        }
    }
    for h in m.headers() {
        out.extend_from_slice(h.name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(m.body);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(data in any_bytes()) {
        for framing in [Framing::Datagram, Framing::Stream] {
            if let Ok(Status::Complete(m)) = Message::parse(&data, framing) {
                prop_assert!(data.starts_with(m.raw));
                let _ = (m.cseq(), m.via_branch(), m.call_id());
            }
        }
        let _ = Challenge::parse_all(&data);
        let _ = Credentials::parse(&data);
        if let Some(mut r) = pcap::from_bytes(&data) {
            while r.next().is_some() {}
        }
        if let Ok(mut r) = open_reader(Box::new(std::io::Cursor::new(data.clone()))) {
            while r.next().is_some() {}
        }
    }

    #[test]
    fn rebuilt_message_reparses_to_the_same_parts(data in sipish_bytes()) {
        let Ok(Status::Complete(m)) = Message::parse(&data, Framing::Datagram) else {
            return Ok(());
        };
        // Headers the parser dropped beyond its cap cannot be rebuilt.
        prop_assume!(m.notes.headers_dropped == 0);
        let rebuilt = rebuild(&m);
        let Ok(Status::Complete(again)) = Message::parse(&rebuilt, Framing::Datagram) else {
            panic!("rebuilt message does not parse: {:?}", String::from_utf8_lossy(&rebuilt));
        };
        prop_assert_eq!(parts(&m), parts(&again));
    }
}

// ---- digest parameters ----

/// Quoted-string content: printable ASCII including '"', '\' and ','.
fn qtext() -> impl Strategy<Value = String> {
    "[ -~]{0,24}"
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.-]{0,10}"
}

fn quote(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

const CHALLENGE_PARAMS: &[&str] = &[
    "realm",
    "nonce",
    "opaque",
    "algorithm",
    "qop",
    "stale",
    "domain",
];
const CREDENTIAL_PARAMS: &[&str] = &[
    "username",
    "realm",
    "nonce",
    "uri",
    "response",
    "algorithm",
    "cnonce",
    "opaque",
    "qop",
    "nc",
    "userhash",
];

fn others(known: &'static [&'static str]) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[a-z][a-z0-9-]{0,8}", qtext()), 0..3).prop_map(move |v| {
        v.into_iter()
            .filter(|(n, _)| !known.contains(&n.as_str()))
            .collect()
    })
}

fn challenge() -> impl Strategy<Value = Challenge> {
    (
        (
            prop::option::of(qtext()),
            prop::option::of(qtext()),
            prop::option::of(qtext()),
            prop::option::of(token()),
        ),
        prop::collection::vec("[a-z][a-z-]{0,8}", 0..3),
        any::<bool>(),
        prop::option::of(qtext()),
        others(CHALLENGE_PARAMS),
    )
        .prop_map(
            |((realm, nonce, opaque, algorithm), qop, stale, domain, other)| Challenge {
                scheme: "Digest".into(),
                realm: realm.map(Text::from),
                nonce: nonce.map(WideText::from),
                opaque: opaque.map(WideText::from),
                algorithm: algorithm.map(Text::from),
                qop: QopList::parse(&qop.join(",")),
                stale,
                domain: domain.map(Text::from),
                other: other.into(),
                problems: Default::default(),
            },
        )
}

/// A header value as a server would write it.
fn format_challenge(c: &Challenge) -> String {
    let mut p = Vec::new();
    let q = |n: &str, v: Option<&str>, p: &mut Vec<String>| {
        if let Some(v) = v {
            p.push(format!("{n}={}", quote(v)));
        }
    };
    q("realm", c.realm.as_deref(), &mut p);
    q("nonce", c.nonce.as_deref(), &mut p);
    q("opaque", c.opaque.as_deref(), &mut p);
    if let Some(a) = &c.algorithm {
        p.push(format!("algorithm={a}"));
    }
    if !c.qop.is_empty() {
        p.push(format!("qop={}", quote(c.qop.as_str())));
    }
    if c.stale {
        p.push("stale=TRUE".into());
    }
    q("domain", c.domain.as_deref(), &mut p);
    for (n, v) in &c.other {
        p.push(format!("{n}={}", quote(v)));
    }
    format!("{} {}", c.scheme, p.join(", "))
}

fn credentials() -> impl Strategy<Value = Credentials> {
    (
        (qtext(), qtext(), qtext(), qtext(), "[0-9a-f]{32}"),
        (
            prop::option::of(token()),
            prop::option::of(qtext()),
            prop::option::of(qtext()),
            prop::option::of(token()),
            prop::option::of("[0-9a-f]{8}"),
        ),
        any::<bool>(),
        others(CREDENTIAL_PARAMS),
    )
        .prop_map(
            |(
                (username, realm, nonce, uri, response),
                (algorithm, cnonce, opaque, qop, nc),
                userhash,
                other,
            )| {
                Credentials {
                    scheme: "Digest".into(),
                    username: Some(username.into()),
                    realm: Some(realm.into()),
                    nonce: Some(nonce.into()),
                    uri: Some(uri.into()),
                    response: Some(response.into()),
                    algorithm: algorithm.map(Text::from),
                    cnonce: cnonce.map(WideText::from),
                    opaque: opaque.map(WideText::from),
                    qop: qop.map(Text::from),
                    nc: nc.map(Text::from),
                    userhash,
                    other: other.into(),
                    problems: Default::default(),
                }
            },
        )
}

/// A header value as a client would write it.
fn format_credentials(c: &Credentials) -> String {
    let mut p = Vec::new();
    let q = |n: &str, v: Option<&str>, p: &mut Vec<String>| {
        if let Some(v) = v {
            p.push(format!("{n}={}", quote(v)));
        }
    };
    q("username", c.username.as_deref(), &mut p);
    q("realm", c.realm.as_deref(), &mut p);
    q("nonce", c.nonce.as_deref(), &mut p);
    q("uri", c.uri.as_deref(), &mut p);
    q("response", c.response.as_deref(), &mut p);
    if let Some(a) = &c.algorithm {
        p.push(format!("algorithm={a}"));
    }
    q("cnonce", c.cnonce.as_deref(), &mut p);
    q("opaque", c.opaque.as_deref(), &mut p);
    if let Some(v) = &c.qop {
        p.push(format!("qop={v}"));
    }
    if let Some(v) = &c.nc {
        p.push(format!("nc={v}"));
    }
    if c.userhash {
        p.push("userhash=true".into());
    }
    for (n, v) in &c.other {
        p.push(format!("{n}={}", quote(v)));
    }
    format!("{} {}", c.scheme, p.join(", "))
}

/// Credentials as clients really write them: odd scheme case, separators
/// and spacing, unquoted values, stray junk.
fn written_credentials() -> impl Strategy<Value = Vec<u8>> {
    (
        credentials(),
        prop_oneof![
            Just("Digest"),
            Just("digest"),
            Just("DIGEST"),
            Just("Basic")
        ],
        prop_oneof![
            Just(","),
            Just(", "),
            Just(" , "),
            Just(",\r\n\t"),
            Just(",,")
        ],
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..6),
    )
        .prop_map(|(c, scheme, sep, unquote_username, junk)| {
            let mut c = c;
            c.scheme = scheme.into();
            let mut text = format_credentials(&c).replacen(", ", "\u{0}", usize::MAX);
            text = text.replace('\u{0}', sep);
            if unquote_username {
                if let Some(u) = &c.username {
                    text = text.replacen(&quote(u), &u.replace([',', '"', ' '], ""), 1);
                }
            }
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(&junk);
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn formatted_challenge_parses_to_what_was_formatted(c in challenge()) {
        let header = format_challenge(&c);
        let parsed = Challenge::parse_all(header.as_bytes());
        prop_assert_eq!(parsed.len(), 1, "{}", header);
        prop_assert_eq!(&parsed[0], &c, "{}", header);
        // And formatting what we parsed gives the same header back.
        prop_assert_eq!(format_challenge(&parsed[0]), header);
    }

    #[test]
    fn formatted_credentials_parse_to_what_was_formatted(c in credentials()) {
        let header = format_credentials(&c);
        let parsed = Credentials::parse(header.as_bytes());
        prop_assert_eq!(&parsed, &c, "{}", header);
        prop_assert_eq!(format_credentials(&parsed), header);
    }

    /// From any header: parse, format, parse again: the same parameters
    /// (problems aside: they describe the original's spelling).
    #[test]
    fn parsed_then_formatted_credentials_reparse_the_same(data in written_credentials()) {
        let first = Credentials::parse(&data);
        let header = format_credentials(&first);
        let mut again = Credentials::parse(header.as_bytes());
        let mut first = first;
        first.problems.clear();
        again.problems.clear();
        prop_assert_eq!(first, again);
    }
}
