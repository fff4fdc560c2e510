//! SIP message parser in both framings, plus every accessor the correlator
//! uses on a parsed message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sipauth_diag::sip::{Framing, HeaderKind, Message, NameAddr, Status, UriParts};

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::Datagram, Framing::Stream] {
        let mut rest = data;
        // Walk pipelined messages the way the stream stage does.
        for _ in 0..64 {
            match Message::parse(rest, framing) {
                Ok(Status::Complete(m)) => {
                    assert!(m.raw.len() <= rest.len());
                    assert!(rest.starts_with(m.raw));
                    let _ = (m.method(), m.status(), m.request_uri(), m.call_id());
                    let _ = (m.cseq(), m.top_via(), m.via_branch());
                    for h in m.headers() {
                        let _ = HeaderKind::classify(h.name);
                    }
                    for kind in [HeaderKind::From, HeaderKind::To, HeaderKind::Contact] {
                        if let Some(v) = m.header(kind) {
                            let na = NameAddr::parse(v);
                            let _ = UriParts::parse(na.uri);
                        }
                    }
                    if let Some(uri) = m.request_uri() {
                        let _ = UriParts::parse(uri);
                    }
                    if m.raw.is_empty() {
                        break;
                    }
                    rest = &rest[m.raw.len()..];
                }
                Ok(Status::Partial) | Err(_) => break,
            }
        }
    }
});
