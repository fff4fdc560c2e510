//! The rule engine. Each rule is a small pure function of one
//! [`AuthExchange`] that pushes [`Finding`]s; rule IDs are stable (see
//! `docs/rules.md` and the field notes they come from). Rules are grouped
//! by family, one file each.

mod challenge_type;
mod identity;
mod outcome;
mod parameters;
mod transport;

use crate::correlate::{AnsweredChallenge, AuthExchange, Round, SentCredentials};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::fmt;

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
pub struct Evidence(pub Vec<(String, String)>);

impl Evidence {
    pub fn new() -> Evidence {
        Evidence(Vec::new())
    }
    pub fn add(mut self, name: &str, value: impl Into<String>) -> Evidence {
        self.0.push((name.to_string(), value.into()));
        self
    }
    pub fn add_opt(self, name: &str, value: Option<impl Into<String>>) -> Evidence {
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
    pub frames: Vec<u64>,
    pub message: String,
    pub evidence: Evidence,
    pub fix: String,
}

/// Thresholds and switches the rules read.
#[derive(Clone, Debug)]
pub struct RuleConfig {
    /// Challenge rounds without success that make an auth loop.
    pub loop_rounds: usize,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig { loop_rounds: 3 }
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
        id: "encrypted-signalling",
        severity: Severity::Info,
        summary:
            "TLS on a SIP port (5061, 5060-5099, 7443, 8089): the SIP inside cannot be analysed",
    },
];

type ExchangeRule = fn(&AuthExchange, &RuleConfig, &mut Vec<Finding>);

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

/// Runs every rule over every exchange.
pub fn evaluate(exchanges: &[AuthExchange], config: &RuleConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    for ex in exchanges {
        for rule in EXCHANGE_RULES {
            rule(ex, config, &mut out);
        }
    }
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
