//! Builds exchanges from literal SIP messages, through the real parser and
//! correlator, for focused rule tests.

use crate::capture::{Transport, Ts};
use crate::correlate::{AgentSighting, AuthExchange, CorrelateConfig, Correlator, MessageMeta};
use crate::sip::{Framing, Message, Status};

/// `(src, dst, seconds, message)`; CRLF line ends are added.
pub fn exchanges(msgs: &[(&str, &str, f64, &str)]) -> Vec<AuthExchange> {
    capture(msgs).0
}

/// Like [`exchanges`], with the per-source User-Agent summary too.
pub fn capture(msgs: &[(&str, &str, f64, &str)]) -> (Vec<AuthExchange>, Vec<AgentSighting>) {
    let mut c = Correlator::new(CorrelateConfig::default());
    for (i, (src, dst, t, text)) in msgs.iter().enumerate() {
        let raw = text
            .trim_start()
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        let meta = MessageMeta {
            input: 0,
            frame: i as u64 + 1,
            ts: Ts((*t * 1e9) as i64),
            src: src.parse().ok(),
            dst: dst.parse().ok(),
            transport: Transport::Udp,
        };
        match Message::parse(raw.as_bytes(), Framing::Datagram) {
            Ok(Status::Complete(m)) => c.message(&meta, &m),
            other => panic!("test message {i} does not parse: {other:?}"),
        }
    }
    let agents = c.take_agents();
    (c.finish().0, agents)
}

pub const PHONE: &str = "10.0.0.5:5060";
pub const PBX: &str = "10.0.0.1:5060";

/// A REGISTER from alice, with optional credentials header line.
pub fn register(cseq: u32, branch: &str, auth: Option<&str>) -> String {
    let auth = auth.map(|a| format!("{a}\n")).unwrap_or_default();
    format!(
        "REGISTER sip:lab.example SIP/2.0\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK{branch}\n\
From: <sip:alice@lab.example>;tag=ft1\n\
To: <sip:alice@lab.example>\n\
Call-ID: cid-1@10.0.0.5\n\
CSeq: {cseq} REGISTER\n\
{auth}Content-Length: 0\n\n"
    )
}

/// A response to the REGISTER with the given branch.
pub fn response(status: u16, reason: &str, cseq: u32, branch: &str, extra: Option<&str>) -> String {
    let extra = extra.map(|a| format!("{a}\n")).unwrap_or_default();
    format!(
        "SIP/2.0 {status} {reason}\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK{branch}\n\
From: <sip:alice@lab.example>;tag=ft1\n\
To: <sip:alice@lab.example>;tag=tt1\n\
Call-ID: cid-1@10.0.0.5\n\
CSeq: {cseq} REGISTER\n\
{extra}Content-Length: 0\n\n"
    )
}

pub const WWW_QOP: &str =
    "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\", qop=\"auth\"";
pub const WWW_NOQOP: &str = "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\"";

pub fn auth_qop(user: &str) -> String {
    format!("Authorization: Digest username=\"{user}\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\", qop=auth, cnonce=\"c1\", nc=00000001")
}

/// REGISTER -> 401 -> REGISTER with `auth` -> `final_status`.
pub fn one_retry(
    challenge: &str,
    auth: &str,
    final_status: u16,
    reason: &str,
) -> Vec<AuthExchange> {
    let msgs = [
        register(1, "a", None),
        response(401, "Unauthorized", 1, "a", Some(challenge)),
        register(2, "b", Some(auth)),
        response(final_status, reason, 2, "b", None),
    ];
    exchanges(&[
        (PHONE, PBX, 0.0, &msgs[0]),
        (PBX, PHONE, 0.01, &msgs[1]),
        (PHONE, PBX, 0.02, &msgs[2]),
        (PBX, PHONE, 0.03, &msgs[3]),
    ])
}

pub fn rules_fired(exs: &[AuthExchange]) -> Vec<&'static str> {
    let mut v: Vec<_> = super::evaluate(exs, &super::RuleConfig::default())
        .into_iter()
        .map(|f| f.rule)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// REGISTER -> 401 with `challenge`, then nothing from this client while
/// the capture goes on 100 s (another account registers): the challenge
/// is never answered.
pub fn challenge_unanswered(challenge: &str) -> Vec<AuthExchange> {
    let first = register(1, "a", None);
    let ch = response(401, "Unauthorized", 1, "a", Some(challenge));
    let later = register(1, "x", None)
        .replace("cid-1", "cid-2")
        .replace("alice@", "bob@");
    exchanges(&[
        (PHONE, PBX, 0.0, &first),
        (PBX, PHONE, 0.1, &ch),
        (PHONE, PBX, 100.0, &later),
    ])
}
