//! The rule engine. Most rules are small pure functions of one
//! [`AuthExchange`]; a few (brute force, nc reuse, scanner user agents)
//! look across exchanges: [`CaptureRules`] is fed each exchange as it
//! finishes, keeps a compact, time-bounded summary, and judges at the end
//! ([`CaptureView`] runs everything over exchanges already in memory).
//! Both push [`Finding`]s. Rule IDs are stable (see `docs/rules.md` and the field
//! notes they come from). Rules are grouped by family, one file each.

mod attack;
mod challenge_type;
mod identity;
mod malformed;
mod nonce;
mod outcome;
mod parameters;
mod reorder;
mod retry;
mod scheme;
mod transport;
mod verify;

use crate::correlate::{AgentSighting, AnsweredChallenge, AuthExchange, Round, SentCredentials};
use crate::credentials::CredentialStore;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Named pieces of evidence, in the order a reader should compare them
/// (e.g. "challenge realm" next to "credentials realm").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence(pub Vec<(Cow<'static, str>, String)>);

impl Evidence {
    pub fn new() -> Evidence {
        Evidence(Vec::new())
    }
    /// Names are nearly always literals: kept borrowed, not copied per
    /// finding.
    pub fn add(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Evidence {
        self.0.push((name.into(), value.into()));
        self
    }
    pub fn add_opt(
        self,
        name: impl Into<Cow<'static, str>>,
        value: Option<impl Into<String>>,
    ) -> Evidence {
        match value {
            Some(v) => self.add(name, v),
            None => self.add(name, "(absent)"),
        }
    }
}

impl Serialize for Evidence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// The exchange id, when the finding is about one exchange.
    pub exchange: Option<usize>,
    /// For findings across exchanges (brute force, scanners): the
    /// exchanges they are about. Frame numbers alone cannot say, since
    /// they restart in every input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_exchanges: Vec<usize>,
    pub frames: Vec<u64>,
    pub message: String,
    pub evidence: Evidence,
    /// What to change; most rules' advice is a constant text.
    pub fix: Cow<'static, str>,
}

/// Thresholds and switches the rules read.
#[derive(Clone, Debug)]
pub struct RuleConfig {
    /// Challenge rounds without success that make an auth loop.
    pub loop_rounds: usize,
    /// Known passwords (`--credentials`); digest checks run only with them.
    pub credentials: Option<Arc<CredentialStore>>,
    /// Seconds after a request (or challenge) that the capture must go on
    /// for silence to count as "never", not "cut by the end of the capture".
    pub answer_timeout: f64,
    /// An answer this many seconds after its challenge, refused with a new
    /// nonce, is treated as refused for being late (stale-nonce).
    pub late_answer: f64,
    /// brute-force: failed authentications from one source within
    /// `window` seconds.
    pub max_failures: usize,
    /// brute-force: sliding window, seconds.
    pub window: f64,
    /// brute-force: distinct usernames tried from one source within the
    /// window (enumeration / credential stuffing).
    pub max_usernames: usize,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            loop_rounds: 3,
            credentials: None,
            answer_timeout: 32.0,
            late_answer: 5.0,
            max_failures: 6,
            window: 180.0,
            max_usernames: 5,
        }
    }
}

/// What every rule is, for `--list-rules`, docs and reports.
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

pub const RULES: &[RuleInfo] = &[
    RuleInfo {
        id: "credentials-rejected",
        severity: Severity::Error,
        summary: "request with credentials answered by 401/407 again (not stale)",
    },
    RuleInfo {
        id: "auth-loop",
        severity: Severity::Error,
        summary: "3 or more challenge rounds in one exchange without success",
    },
    RuleInfo {
        id: "missing-cnonce",
        severity: Severity::Error,
        summary: "challenge offered qop, the answer has no cnonce/nc/qop",
    },
    RuleInfo {
        id: "qop-mismatch",
        severity: Severity::Error,
        summary: "answer uses a qop not offered, or sends qop/cnonce/nc when none was offered",
    },
    RuleInfo {
        id: "realm-mismatch",
        severity: Severity::Error,
        summary: "answer's realm differs from the challenge's realm",
    },
    RuleInfo {
        id: "auth-user-split",
        severity: Severity::Info,
        summary: "From user differs from the digest username (warning when auth fails)",
    },
    RuleInfo {
        id: "register-challenged-with-407",
        severity: Severity::Warning,
        summary: "REGISTER answered with 407 / Proxy-Authenticate",
    },
    RuleInfo {
        id: "credentials-header-mismatch",
        severity: Severity::Error,
        summary: "401 answered with Proxy-Authorization, or 407 with Authorization",
    },
    RuleInfo {
        id: "challenge-unanswered",
        severity: Severity::Error,
        summary: "401/407 and the client never retries",
    },
    RuleInfo {
        id: "forbidden-after-auth",
        severity: Severity::Error,
        summary: "403 after a request with credentials",
    },
    RuleInfo {
        id: "uri-mismatch",
        severity: Severity::Warning,
        summary: "digest uri differs from the Request-URI",
    },
    RuleInfo {
        id: "digest-verified",
        severity: Severity::Info,
        summary: "with a known password (--credentials), the response matches",
    },
    RuleInfo {
        id: "wrong-password",
        severity: Severity::Error,
        summary: "response does not match the known password, and no single-field variation does",
    },
    RuleInfo {
        id: "digest-field-mismatch",
        severity: Severity::Error,
        summary: "the known password matches once one field is changed: names the field the client got wrong",
    },
    RuleInfo {
        id: "credentials-file-outdated",
        severity: Severity::Warning,
        summary: "the server accepted a response that does not match the known password",
    },
    RuleInfo {
        id: "nonce-mismatch",
        severity: Severity::Error,
        summary: "answer's nonce is not the latest one the server issued in this exchange",
    },
    RuleInfo {
        id: "stale-nonce",
        severity: Severity::Warning,
        summary: "challenge with stale=true, or an answer refused with a new nonce because it came late",
    },
    RuleInfo {
        id: "nc-reuse",
        severity: Severity::Warning,
        summary: "same nonce answered twice with the same nc",
    },
    RuleInfo {
        id: "credentials-missing-on-retry",
        severity: Severity::Error,
        summary: "request re-sent after a challenge without credentials",
    },
    RuleInfo {
        id: "cseq-not-incremented",
        severity: Severity::Warning,
        summary: "retried request keeps the same CSeq",
    },
    RuleInfo {
        id: "no-final-response",
        severity: Severity::Warning,
        summary: "request never got a final response although the capture went on",
    },
    RuleInfo {
        id: "algorithm-mismatch",
        severity: Severity::Error,
        summary: "answer's algorithm not offered, or only non-MD5 offered and never answered",
    },
    RuleInfo {
        id: "opaque-mismatch",
        severity: Severity::Error,
        summary: "opaque not echoed unchanged",
    },
    RuleInfo {
        id: "malformed-credentials",
        severity: Severity::Error,
        summary: "credentials header that cannot be parsed, lacks required parameters, or has non-ASCII quotes",
    },
    RuleInfo {
        id: "brute-force",
        severity: Severity::Critical,
        summary: "one source guessing passwords or usernames: many failures across accounts or passwords",
    },
    RuleInfo {
        id: "scanner-user-agent",
        severity: Severity::Warning,
        summary: "a request whose User-Agent names a known SIP scanner",
    },
    RuleInfo {
        id: "unsupported-scheme",
        severity: Severity::Info,
        summary: "challenge with a scheme other than Digest",
    },
    RuleInfo {
        id: "encrypted-signalling",
        severity: Severity::Info,
        summary:
            "TLS on a SIP port (5061, 5060-5099, 7443, 8089): the SIP inside cannot be analysed",
    },
];

type ExchangeRule = fn(&AuthExchange, &RuleConfig, &mut Vec<Finding>);

/// Everything a capture-wide rule may look at.
#[derive(Clone, Copy, Debug)]
pub struct CaptureView<'a> {
    pub exchanges: &'a [AuthExchange],
    /// Every (source, User-Agent) of every request, challenged or not.
    pub agents: &'a [AgentSighting],
}

const EXCHANGE_RULES: &[ExchangeRule] = &[
    outcome::credentials_rejected,
    outcome::auth_loop,
    outcome::challenge_unanswered,
    outcome::forbidden_after_auth,
    parameters::missing_cnonce,
    parameters::qop_mismatch,
    parameters::realm_mismatch,
    parameters::uri_mismatch,
    identity::auth_user_split,
    challenge_type::register_challenged_with_407,
    challenge_type::credentials_header_mismatch,
    verify::verify_digest,
    nonce::nonce_mismatch,
    nonce::stale_nonce,
    retry::credentials_missing_on_retry,
    retry::cseq_not_incremented,
    retry::no_final_response,
    parameters::algorithm_mismatch,
    parameters::opaque_mismatch,
    malformed::malformed_credentials,
    scheme::unsupported_scheme,
];

type NetRule = fn(&crate::net::NetStats, &RuleConfig, &mut Vec<Finding>);

/// Rules about the capture as a whole (what the network layer saw).
const NET_RULES: &[NetRule] = &[transport::encrypted_signalling];

/// Runs the capture-wide rules once per run.
pub fn evaluate_net(net: &crate::net::NetStats, config: &RuleConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    for rule in NET_RULES {
        rule(net, config, &mut out);
    }
    out
}

/// Runs every rule over the exchanges alone (no request summary).
pub fn evaluate(exchanges: &[AuthExchange], config: &RuleConfig) -> Vec<Finding> {
    evaluate_capture(
        &CaptureView {
            exchanges,
            agents: &[],
        },
        config,
    )
}

/// Runs the per-exchange rules only: what can be said about one exchange
/// as soon as it finishes (streaming output).
pub fn evaluate_exchange(ex: &AuthExchange, config: &RuleConfig, out: &mut Vec<Finding>) {
    for rule in EXCHANGE_RULES {
        rule(ex, config, out);
    }
}

/// The capture-wide rules (nonce-count reuse, brute force, scanners): fed
/// every exchange once as it finishes, judged at the end of the capture.
/// They keep compact summaries of what they need (attempts, nonce
/// events), never the exchanges, so they run on streamed output too.
#[derive(Default)]
pub struct CaptureRules {
    nc_reuse: nonce::NcReuse,
    brute_force: attack::BruteForce,
    scanners: attack::Scanners,
}

impl CaptureRules {
    pub fn new(config: &RuleConfig) -> CaptureRules {
        CaptureRules {
            brute_force: attack::BruteForce::new(config),
            ..CaptureRules::default()
        }
    }

    pub fn add(&mut self, ex: &AuthExchange) {
        self.nc_reuse.add(ex);
        self.brute_force.add(ex);
        self.scanners.add(ex);
    }

    /// The findings, with `agents` (every source and User-Agent of every
    /// request) for the scanner rule.
    pub fn finish(self, agents: &[AgentSighting], config: &RuleConfig, out: &mut Vec<Finding>) {
        self.nc_reuse.finish(config, out);
        self.brute_force.finish(config, out);
        self.scanners.finish(agents, config, out);
    }

    /// [`CaptureRules::finish`] with nonce-count reuse on a thread of its
    /// own: at the end of a capture both it and brute force take what
    /// waits in their reorder buffers (minutes of events), while the other
    /// core would be idle. Same findings in the same order; on one thread
    /// when no other can be had.
    pub fn finish_on_two_threads(
        self,
        agents: &[AgentSighting],
        config: &RuleConfig,
        out: &mut Vec<Finding>,
    ) {
        let CaptureRules {
            nc_reuse,
            brute_force,
            scanners,
        } = self;
        let nonce_finish = |n: nonce::NcReuse| {
            let mut found = Vec::new();
            n.finish(config, &mut found);
            found
        };
        let (nonce, rest) = std::thread::scope(|s| {
            let helper =
                crate::threads::spawn_or_give_back(s, "nonce-rules", nc_reuse, nonce_finish);
            let mut rest = Vec::new();
            brute_force.finish(config, &mut rest);
            scanners.finish(agents, config, &mut rest);
            let nonce = match helper {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(n) => nonce_finish(n),
            };
            (nonce, rest)
        });
        out.extend(nonce);
        out.extend(rest);
    }
}

/// Runs every per-exchange rule over every exchange, then the
/// capture-wide rules.
pub fn evaluate_capture(view: &CaptureView<'_>, config: &RuleConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut capture = CaptureRules::new(config);
    for ex in view.exchanges {
        evaluate_exchange(ex, config, &mut out);
        capture.add(ex);
    }
    capture.finish(view.agents, config, &mut out);
    out
}

/// Credentials of a round together with the challenge they answer, for
/// the checks that compare the two on the hop they were made for.
pub(crate) fn answered(
    round: &Round,
) -> impl Iterator<Item = (&SentCredentials, Option<&AnsweredChallenge>)> {
    round
        .request
        .credentials
        .iter()
        .zip(
            round
                .answers
                .iter()
                .map(Option::as_ref)
                .chain(std::iter::repeat(None)),
        )
        .filter(|(c, a)| c.credentials.is_digest() && !c.relayed && a.is_none_or(|a| a.same_hop))
}

pub(crate) fn q(s: &str) -> String {
    format!("'{s}'")
}

pub(crate) fn opt(s: Option<&str>) -> String {
    match s {
        Some(s) => format!("'{s}'"),
        None => "(absent)".into(),
    }
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::{CaptureRules, RULES};

    #[test]
    fn capture_rules_finish_alike_on_two_threads() {
        // A phone replaying a nonce count (nc-reuse), then a dictionary
        // attack from another address (brute-force): findings of both
        // rules, in the order one thread gives them.
        let auth = |nc: &str, cnonce: &str, response: &str| {
            format!("Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"{response}\", qop=auth, cnonce=\"{cnonce}\", nc={nc}")
        };
        let www = "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\", qop=\"auth\"";
        let mut m = vec![
            (PHONE, 0.0, register(1, "a", None)),
            (PBX, 0.1, response(401, "Unauthorized", 1, "a", Some(www))),
            (
                PHONE,
                0.2,
                register(2, "b", Some(&auth("00000001", "c1", "00"))),
            ),
            (PBX, 0.3, response(200, "OK", 2, "b", None)),
            (
                PHONE,
                60.0,
                register(3, "c", Some(&auth("00000001", "c2", "01"))),
            ),
            (PBX, 60.1, response(200, "OK", 3, "c", None)),
        ];
        // The attacker's own dialog: user 1000, its own Call-ID and nonce.
        let theirs = |text: String| text.replace("alice@", "1000@").replace("cid-1", "c9");
        let www_n = "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"N\"";
        m.push(("10.9.9.9:5067", 200.0, theirs(register(1, "a0", None))));
        m.push((
            PBX,
            200.001,
            theirs(response(401, "Unauthorized", 1, "a0", Some(www_n))),
        ));
        for i in 1..=30u32 {
            let t = 200.0 + f64::from(i) * 0.01;
            let b = format!("g{i}");
            let guess = format!("Authorization: Digest username=\"1000\", realm=\"lab.example\", nonce=\"N\", uri=\"sip:lab.example\", response=\"{i:032x}\"");
            m.push(("10.9.9.9:5067", t, theirs(register(2, &b, Some(&guess)))));
            m.push((
                PBX,
                t + 0.001,
                theirs(response(401, "Unauthorized", 2, &b, Some(www_n))),
            ));
        }
        let msgs: Vec<(&str, &str, f64, &str)> = m
            .iter()
            .enumerate()
            .map(|(i, (src, t, text))| {
                // Responses go back to whoever sent the request before.
                let dst = match *src {
                    PBX => m[i - 1].0,
                    _ => PBX,
                };
                (*src, dst, *t, text.as_str())
            })
            .collect();
        let (exs, agents) = capture(&msgs);
        let config = Default::default();
        let finish = |two: bool| {
            let mut rules = CaptureRules::new(&config);
            for ex in &exs {
                rules.add(ex);
            }
            let mut out = Vec::new();
            if two {
                rules.finish_on_two_threads(&agents, &config, &mut out);
            } else {
                rules.finish(&agents, &config, &mut out);
            }
            out.iter()
                .map(|f| format!("{} {:?} {}", f.rule, f.frames, f.message))
                .collect::<Vec<_>>()
        };
        let one = finish(false);
        let fired: Vec<&str> = one.iter().map(|f| f.split(' ').next().unwrap()).collect();
        assert!(fired.contains(&"nc-reuse"), "{one:#?}");
        assert!(fired.contains(&"brute-force"), "{one:#?}");
        assert_eq!(finish(true), one);
    }

    #[test]
    fn every_rule_has_a_docs_section() {
        let docs = include_str!("../../docs/rules.md");
        for r in RULES {
            assert!(
                docs.contains(&format!("### `{}`", r.id)),
                "docs/rules.md has no section for {}",
                r.id
            );
        }
    }

    #[test]
    fn rule_ids_are_unique() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(
                !RULES[..i].iter().any(|o| o.id == r.id),
                "{} listed twice",
                r.id
            );
        }
    }
}
