//! Reports: the terminal view, JSON for scripts, Markdown and HTML for
//! support tickets. Every format reads one [`Report`]: the analysis after
//! the filters ([`filter`]) and the redaction ([`redact`]) were applied to
//! it once, so no format can forget either.

pub mod filter;
pub mod html;
pub mod json;
pub mod ladder;
pub mod markdown;
pub mod redact;
pub mod sanitize;
pub mod text;

use crate::analysis::Analysis;
use crate::correlate::{AuthExchange, Outcome};
use crate::rules::{Finding, Severity};
use std::collections::BTreeMap;

/// What a report shows: the analysis, narrowed by the filters and masked
/// by the redaction, plus what the filters left out.
pub struct Report {
    pub analysis: Analysis,
    /// Set when a filter was given: what it was and the totals before it.
    pub scope: Option<filter::Scope>,
    pub redaction: redact::Level,
}

impl Report {
    /// Filters, then redacts (so pseudonyms are numbered in the order the
    /// reader meets them in what is shown).
    pub fn build(mut analysis: Analysis, f: &filter::Filter, level: redact::Level) -> Report {
        let scope = filter::apply(&mut analysis, f);
        redact::apply(&mut analysis, level);
        Report {
            analysis,
            scope,
            redaction: level,
        }
    }

    /// A report of the whole analysis, nothing masked.
    pub fn plain(analysis: Analysis) -> Report {
        Report {
            analysis,
            scope: None,
            redaction: redact::Level::None,
        }
    }

    /// The findings about one exchange, most severe first.
    pub fn findings_of(&self, exchange: usize) -> Vec<&Finding> {
        let mut v: Vec<&Finding> = self
            .analysis
            .findings
            .iter()
            .filter(|f| f.exchange == Some(exchange))
            .collect();
        v.sort_by_key(|f| std::cmp::Reverse(f.severity));
        v
    }
}

/// Whether an exchange deserves a ladder in a ticket report: it did not
/// succeed, or something at warning level or above was found in it.
pub fn is_failing(ex: &AuthExchange, findings: &[Finding]) -> bool {
    matches!(ex.outcome, Outcome::Failed | Outcome::Unanswered)
        || findings
            .iter()
            .any(|f| f.exchange == Some(ex.id) && f.severity >= Severity::Warning)
}

/// Most ladders drawn in one Markdown or HTML report; the rest are named.
pub const MAX_LADDERS: usize = 40;

/// One row of the per-account table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AccountRow {
    pub user: String,
    pub auth_user: String,
    pub realm: String,
    pub client: String,
    pub server: String,
    pub exchanges: usize,
    pub rounds: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub last_outcome: Outcome,
    /// The most severe finding's rule, if any.
    pub worst_rule: Option<&'static str>,
    /// The exchanges of this account, in capture order.
    #[serde(skip)]
    pub exchange_ids: Vec<usize>,
}

pub use crate::correlate::endpoint;

/// Groups exchanges by account: user, auth user, realm, client host,
/// server.
pub fn accounts(exchanges: &[AuthExchange], findings: &[Finding]) -> Vec<AccountRow> {
    let mut rows: BTreeMap<(String, String, String, String, String), AccountRow> = BTreeMap::new();
    for ex in exchanges {
        let user = ex.user().unwrap_or_else(|| "?".into());
        let auth_user = ex.auth_user().unwrap_or_else(|| "-".into());
        let realm = ex.realm().unwrap_or_else(|| "-".into());
        let client = ex
            .client
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "?".into());
        let server = endpoint(ex.server);
        let key = (
            user.clone(),
            auth_user.clone(),
            realm.clone(),
            client.clone(),
            server.clone(),
        );
        let row = rows.entry(key).or_insert_with(|| AccountRow {
            user,
            auth_user,
            realm,
            client,
            server,
            exchanges: 0,
            rounds: 0,
            succeeded: 0,
            failed: 0,
            last_outcome: ex.outcome,
            worst_rule: None,
            exchange_ids: Vec::new(),
        });
        row.exchanges += 1;
        row.exchange_ids.push(ex.id);
        row.rounds += ex.rounds.len();
        match ex.outcome {
            Outcome::Succeeded => row.succeeded += 1,
            Outcome::Failed | Outcome::Unanswered => row.failed += 1,
            Outcome::Incomplete => {}
        }
        row.last_outcome = ex.outcome;
        let worst = findings
            .iter()
            .filter(|f| f.exchange == Some(ex.id) && f.severity >= Severity::Warning)
            .max_by_key(|f| f.severity);
        if let Some(f) = worst {
            row.worst_rule = Some(f.rule);
        }
    }
    rows.into_values().collect()
}

/// Counts by outcome, rule and severity.
pub struct Summary {
    pub by_outcome: BTreeMap<&'static str, usize>,
    pub by_rule: BTreeMap<&'static str, usize>,
    pub by_severity: BTreeMap<&'static str, usize>,
}

pub fn summary(a: &Analysis) -> Summary {
    let mut by_outcome = BTreeMap::new();
    for ex in &a.exchanges {
        *by_outcome.entry(ex.outcome.as_str()).or_insert(0) += 1;
    }
    let mut by_rule = BTreeMap::new();
    let mut by_severity = BTreeMap::new();
    for f in &a.findings {
        *by_rule.entry(f.rule).or_insert(0) += 1;
        *by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
    }
    Summary {
        by_outcome,
        by_rule,
        by_severity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;

    /// An analysis of one rejected REGISTER whose realm and user carry
    /// markup and escape sequences.
    fn hostile() -> Analysis {
        let auth = auth_qop("al<i>ce\x1b[2J")
            .replace("realm=\"lab.example\"", "realm=\"<script>x</script>\"");
        let exchanges = one_retry(WWW_QOP, &auth, 401, "Unauthorized");
        let findings = crate::rules::evaluate(&exchanges, &Default::default());
        Analysis {
            inputs: Vec::new(),
            exchanges,
            findings,
            sip: Default::default(),
            net: Default::default(),
            correlate: Default::default(),
        }
    }

    fn render(
        r: &Report,
        f: fn(&Report, &mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> String {
        let mut buf = Vec::new();
        f(r, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn html_escapes_capture_text_everywhere() {
        let html = render(&Report::plain(hostile()), html::write);
        assert!(!html.contains("<script>x"), "unescaped realm");
        assert!(!html.contains("al<i>"), "unescaped user");
        assert!(!html.contains('\x1b'));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("al&lt;i&gt;ce\\x1b[2J"));
        // The realm the finding is about is marked in the drawing.
        assert!(
            html.contains("class=\"hl\">realm=&lt;script&gt;x&lt;/script&gt;</text>"),
            "{html}"
        );
    }

    #[test]
    fn markdown_escapes_capture_text() {
        let md = render(&Report::plain(hostile()), markdown::write);
        assert!(!md.contains('\x1b'));
        assert!(md.contains("al\\<i\\>ce"), "{md}");
        assert!(
            md.contains("realm=<script>x</script>(!)"),
            "ladder keeps text as is: {md}"
        );
    }

    #[test]
    fn redaction_covers_structured_fields_and_text() {
        let mut a = hostile();
        a.findings[0]
            .message
            .push_str(" response 0123456789abcdef0123456789abcdef");
        let r = Report::build(a, &filter::Filter::default(), redact::Level::All);
        let ex = &r.analysis.exchanges[0];
        let c = &ex.rounds[1].request.credentials[0].credentials;
        assert_eq!(c.response.as_deref(), Some("[response-1]"));
        assert_eq!(c.nonce.as_deref(), Some("[nonce-1]"));
        assert_eq!(c.cnonce.as_deref(), Some("[cnonce-1]"));
        assert_eq!(
            ex.rounds[0].response.as_ref().unwrap().challenges[0]
                .challenge
                .nonce
                .as_deref(),
            Some("[nonce-1]"),
            "the same nonce keeps the same label"
        );
        assert!(r.analysis.findings[0]
            .message
            .ends_with("response [response-1]"));
        assert_eq!(ex.client.unwrap().to_string(), "10.255.0.1:5060");
        assert_eq!(ex.server.unwrap().to_string(), "10.255.0.2:5060");
        assert!(ex.from_uri.contains("user-"), "{}", ex.from_uri);
        assert!(!ex.from_uri.contains("alice"));
        for f in &r.analysis.findings {
            for (_, v) in &f.evidence.0 {
                assert!(!v.contains("10.0.0."), "{v}");
            }
        }
        let json = json::to_value(&r).to_string();
        assert!(!json.contains("10.0.0.") && !json.contains("0123456789abcdef"));
    }

    #[test]
    fn filters_record_what_they_left_out() {
        let f = filter::Filter {
            users: vec!["bob".into()],
            ..Default::default()
        };
        let r = Report::build(hostile(), &f, redact::Level::None);
        let sc = r.scope.as_ref().unwrap();
        assert_eq!((sc.exchanges_shown, sc.exchanges_total), (0, 1));
        assert!(sc.findings_total > 0);
        assert!(r.analysis.findings.is_empty());
        let f = filter::Filter {
            min_severity: Some(Severity::Critical),
            ..Default::default()
        };
        let r = Report::build(hostile(), &f, redact::Level::None);
        assert!(
            r.analysis.exchanges.is_empty(),
            "no critical finding, no exchange"
        );
    }
}
