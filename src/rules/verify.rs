//! Digest responses checked against known passwords (`--credentials`).
//!
//! Every credentials header a client computed itself (relayed copies are
//! skipped; retransmissions are not rounds) is recomputed from the fields
//! as sent: the digest username verbatim (`alice@` stays `alice@`), the
//! realm, nonce, cnonce, nc, qop and uri of the header, the method of the
//! request. A match is `digest-verified`. A mismatch starts a search over
//! single-field variations (username, realm, uri, method, algorithm,
//! earlier nonces, qop); the first that matches names the field the client
//! got wrong (`digest-field-mismatch`); none means `wrong-password`.
//! Findings are grouped per exchange, account and cause, so a loop of 15
//! identical failures is one finding with 15 frames.

use super::identity::field_table;
use super::{q, Evidence, Finding, RuleConfig, Severity};
use crate::correlate::{AnsweredChallenge, AuthExchange, Round, SentCredentials};
use crate::credentials::{user_part, Account, CredentialStore};
use crate::sip::digest_math::{ha1_session, response, response_eq, Algorithm, Qop, ResponseInput};
use crate::sip::UriParts;

/// Mismatching answers per exchange searched for a single-field cause;
/// the rest (a dictionary attack) are only checked as sent.
const MAX_SEARCHED: usize = 64;

/// Accounts tried when the phone may have sent its extension as the
/// digest username.
const MAX_FALLBACK_ACCOUNTS: usize = 64;

/// Earlier nonces of the exchange tried (the latest ones).
const MAX_NONCES: usize = 32;

const METHODS: &[&str] = &[
    "REGISTER",
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "SUBSCRIBE",
    "NOTIFY",
    "MESSAGE",
    "REFER",
    "INFO",
    "UPDATE",
    "PRACK",
    "PUBLISH",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Field {
    Username,
    Realm,
    Uri,
    Method,
    Algorithm,
    Nonce,
    Qop,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Username => "username",
            Field::Realm => "realm",
            Field::Uri => "uri",
            Field::Method => "method",
            Field::Algorithm => "algorithm",
            Field::Nonce => "nonce",
            Field::Qop => "qop",
        }
    }
}

/// The inputs of one response computation.
#[derive(Clone, Debug)]
struct Trial<'a> {
    username: String,
    realm: String,
    algorithm: Algorithm,
    nonce: String,
    cnonce: Option<&'a str>,
    nc: Option<&'a str>,
    qop: Qop,
    method: String,
    uri: String,
    body: Option<&'a [u8]>,
}

impl Trial<'_> {
    fn matches(&self, store: &CredentialStore, account: usize, sent: &str) -> bool {
        let base = store.ha1_base(account, &self.username, &self.realm, self.algorithm);
        let Some(ha1) = ha1_session(self.algorithm, &base, &self.nonce, self.cnonce) else {
            return false;
        };
        let input = ResponseInput {
            algorithm: self.algorithm,
            nonce: &self.nonce,
            cnonce: self.cnonce,
            nc: self.nc,
            qop: self.qop,
            method: &self.method,
            uri: &self.uri,
            body: self.body,
        };
        response(&ha1, &input).is_some_and(|r| response_eq(sent, &r))
    }
}

/// One single-field change, with where the value came from.
#[derive(Clone, Debug)]
struct Variation {
    field: Field,
    value: String,
    source: String,
    /// For nonce variations: the frame of the challenge that issued it.
    frame: Option<u64>,
}

impl Variation {
    fn apply<'a>(&self, t: &Trial<'a>) -> Trial<'a> {
        let mut t = t.clone();
        match self.field {
            Field::Username => t.username = self.value.clone(),
            Field::Realm => t.realm = self.value.clone(),
            Field::Uri => t.uri = self.value.clone(),
            Field::Method => t.method = self.value.clone(),
            Field::Nonce => t.nonce = self.value.clone(),
            Field::Algorithm => {
                if let Some(a) = Algorithm::parse(&self.value) {
                    t.algorithm = a;
                }
            }
            Field::Qop => {
                t.qop = match self.value.as_str() {
                    "auth" => Qop::Auth,
                    "auth-int" => Qop::AuthInt,
                    _ => Qop::None,
                }
            }
        }
        t
    }
}

/// What one credentials header turned out to be.
#[derive(Debug)]
enum Verdict {
    Verified,
    /// Right password, but the realm sent is not the one challenged.
    RealmAsSent {
        challenged: String,
    },
    /// Right password of another account than the username sent.
    OtherAccount,
    Field(Variation),
    Wrong {
        searched: bool,
    },
    /// The server accepted, the known password does not match.
    Outdated,
}

/// The context a header is judged in.
struct Ctx<'a> {
    ex: &'a AuthExchange,
    round: &'a Round,
    sc: &'a SentCredentials,
    answered: Option<&'a AnsweredChallenge>,
}

impl Ctx<'_> {
    fn challenged_realm(&self) -> Option<&str> {
        self.answered.and_then(|a| a.challenge.realm.as_deref())
    }
    fn accepted(&self) -> bool {
        self.round.status().is_some_and(|s| (200..300).contains(&s))
    }
}

fn host_of(uri: &str) -> Option<String> {
    let h = UriParts::parse(uri.as_bytes()).host;
    (!h.is_empty()).then(|| String::from_utf8_lossy(h).into_owned())
}

fn push_unique(out: &mut Vec<Variation>, sent: &str, v: Variation) {
    if v.value != sent && !v.value.is_empty() && !out.iter().any(|o| o.value == v.value) {
        out.push(v);
    }
}

/// URI forms a client may have hashed: as is, without parameters, without
/// port, with the default port, only the host.
fn uri_forms(uri: &str) -> Vec<(String, &'static str)> {
    let mut v = vec![(uri.to_string(), "")];
    let no_params = match uri.find([';', '?', '>']) {
        Some(i) => uri[..i].to_string(),
        None => uri.to_string(),
    };
    v.push((no_params.clone(), " without its parameters"));
    let p = UriParts::parse(uri.as_bytes());
    let scheme = String::from_utf8_lossy(p.scheme).into_owned();
    let host = String::from_utf8_lossy(p.host).into_owned();
    if !scheme.is_empty() && !host.is_empty() {
        let user = p
            .user
            .map(|u| format!("{}@", String::from_utf8_lossy(u)))
            .unwrap_or_default();
        v.push((
            format!("{scheme}:{user}{host}"),
            " without port and parameters",
        ));
        if p.port.is_none() {
            v.push((
                format!("{scheme}:{user}{host}:5060"),
                " with port 5060 added",
            ));
        }
        v.push((format!("{scheme}:{host}"), " reduced to the host"));
    }
    v
}

fn variations(ctx: &Ctx<'_>, trial: &Trial<'_>, account: &Account) -> Vec<Variation> {
    let ex = ctx.ex;
    let c = &ctx.sc.credentials;
    let mut out = Vec::new();
    let from_host = host_of(&ex.from_uri);
    let to_host = host_of(&ex.to_uri);
    let ruri_host = host_of(&ctx.round.request.request_uri);
    let challenged = ctx.challenged_realm().map(str::to_string);

    // Realm.
    let mut realms = Vec::new();
    for (value, source) in [
        (challenged.clone(), "the realm the server challenged with"),
        (from_host.clone(), "the From host"),
        (to_host.clone(), "the To host"),
        (ruri_host.clone(), "the Request-URI host"),
        (account.realm.clone(), "the realm in the credentials file"),
    ] {
        if let Some(value) = value {
            push_unique(&mut realms, &trial.realm, var(Field::Realm, value, source));
        }
    }
    out.extend(realms);

    // Username.
    let mut users = Vec::new();
    let sent_user = trial.username.clone();
    let bases = [
        (Some(sent_user.clone()), "the digest username"),
        (ex.user(), "the From user"),
        (ex.to_user(), "the To user"),
        (Some(account.user.clone()), "the account name"),
    ];
    let domains = [
        (from_host.clone(), "the From host"),
        (
            challenged
                .clone()
                .or(c.realm.as_deref().map(str::to_string)),
            "the realm",
        ),
        (to_host.clone(), "the To host"),
        (ruri_host.clone(), "the Request-URI host"),
    ];
    for (base, source) in &bases {
        let Some(base) = base else { continue };
        push_unique(
            &mut users,
            &sent_user,
            var(Field::Username, base.clone(), source),
        );
        let bare = user_part(base);
        if bare != base {
            push_unique(
                &mut users,
                &sent_user,
                var(
                    Field::Username,
                    bare.to_string(),
                    &format!("{source} without '@...'"),
                ),
            );
        }
        for (domain, dsource) in &domains {
            if let Some(d) = domain {
                push_unique(
                    &mut users,
                    &sent_user,
                    var(
                        Field::Username,
                        format!("{bare}@{d}"),
                        &format!("{source} with '@' and {dsource}"),
                    ),
                );
            }
        }
    }
    out.extend(users);

    // Uri.
    let mut uris = Vec::new();
    for (base, source) in [
        (ctx.round.request.request_uri.as_str(), "the Request-URI"),
        (ex.to_uri.as_str(), "the To URI"),
        (ex.from_uri.as_str(), "the From URI"),
        (trial.uri.as_str(), "the digest uri"),
    ] {
        if base.is_empty() {
            continue;
        }
        for (form, how) in uri_forms(base) {
            push_unique(
                &mut uris,
                &trial.uri,
                var(Field::Uri, form, &format!("{source}{how}")),
            );
        }
    }
    out.extend(uris);

    // Method.
    for m in METHODS {
        if !m.eq_ignore_ascii_case(&trial.method) {
            out.push(var(Field::Method, m.to_string(), "another method"));
        }
    }

    // Algorithm.
    for a in Algorithm::ALL {
        if a != trial.algorithm {
            out.push(var(
                Field::Algorithm,
                a.name().to_string(),
                "another algorithm",
            ));
        }
    }

    // Earlier nonces given to this client in this exchange.
    let mut nonces = Vec::new();
    let mut add_nonce = |nonce: &str, frame: u64| {
        let before = nonces.len();
        push_unique(
            &mut nonces,
            &trial.nonce,
            var(Field::Nonce, nonce.to_string(), "an earlier nonce"),
        );
        if nonces.len() > before {
            if let Some(v) = nonces.last_mut() {
                v.frame = Some(frame);
            }
        }
    };
    if let Some(a) = ctx.answered {
        if let Some(n) = a.challenge.nonce.as_deref() {
            add_nonce(n, a.frame);
        }
    }
    // Latest first, bounded: a long loop issues a nonce per round.
    let issued = ex
        .rounds
        .iter()
        .rev()
        .filter_map(|r| r.response.as_ref())
        .filter(|resp| resp.ts <= ctx.round.request.ts)
        .flat_map(|resp| {
            resp.digest_challenges()
                .filter_map(move |ic| ic.challenge.nonce.as_deref().map(|n| (n, resp.frame)))
        })
        .take(MAX_NONCES);
    for (n, frame) in issued {
        add_nonce(n, frame);
    }
    out.extend(nonces);

    // Qop computed differently from what the header declares.
    let has_cnonce = trial.cnonce.is_some() && trial.nc.is_some();
    let declared = Qop::from_param(c.qop.as_deref());
    if has_cnonce {
        for (qop, source) in [
            (Qop::None, "without qop (RFC 2069 form)"),
            (Qop::Auth, "with qop=auth"),
            (Qop::AuthInt, "with qop=auth-int"),
        ] {
            if Some(qop) != declared && (qop != Qop::AuthInt || trial.body.is_some()) {
                out.push(var(
                    Field::Qop,
                    qop.token().unwrap_or("none").into(),
                    source,
                ));
            }
        }
    }
    out
}

fn var(field: Field, value: String, source: &str) -> Variation {
    Variation {
        field,
        value,
        source: source.to_string(),
        frame: None,
    }
}

/// Accounts for the username as sent (verbatim, else by user part) in a
/// realm the header or the challenge names.
fn accounts_for(store: &CredentialStore, ctx: &Ctx<'_>, username: &str) -> Vec<usize> {
    let realms: Vec<&str> = ctx
        .sc
        .credentials
        .realm
        .as_deref()
        .into_iter()
        .chain(ctx.challenged_realm())
        .collect();
    let realm_ok = |&i: &usize| {
        let a = &store.accounts()[i];
        realms.iter().any(|r| a.realm_matches(r))
    };
    let exact: Vec<usize> = store
        .named(username)
        .iter()
        .copied()
        .filter(realm_ok)
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    store
        .with_user_part(user_part(username))
        .iter()
        .copied()
        .filter(realm_ok)
        .collect()
}

/// Accounts the phone may have meant when the username it sent is not in
/// the file: the From/To user's account, and, when the phone sent its
/// extension as the digest username, the other accounts of the realm.
fn fallback_accounts(store: &CredentialStore, ctx: &Ctx<'_>, username: &str) -> Vec<usize> {
    let ids: Vec<String> = [ctx.ex.user(), ctx.ex.to_user()]
        .into_iter()
        .flatten()
        .collect();
    let sent_extension = ids.iter().any(|u| u == user_part(username));
    let realms: Vec<&str> = ctx
        .sc
        .credentials
        .realm
        .as_deref()
        .into_iter()
        .chain(ctx.challenged_realm())
        .collect();
    let candidates = if sent_extension {
        store.in_realms(&realms, MAX_FALLBACK_ACCOUNTS)
    } else {
        let mut v: Vec<usize> = ids
            .iter()
            .flat_map(|u| store.with_user_part(u).iter().copied())
            .filter(|&i| realms.iter().any(|r| store.accounts()[i].realm_matches(r)))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    candidates.into_iter().take(MAX_FALLBACK_ACCOUNTS).collect()
}

fn judge(store: &CredentialStore, ctx: &Ctx<'_>, search: bool) -> Option<(usize, Verdict)> {
    let c = &ctx.sc.credentials;
    let (Some(username), Some(realm), Some(nonce), Some(uri), Some(sent)) = (
        c.username.as_deref(),
        c.realm.as_deref(),
        c.nonce.as_deref(),
        c.uri.as_deref(),
        c.response.as_deref(),
    ) else {
        return None;
    };
    let algorithm = Algorithm::from_param(c.algorithm.as_deref())?;
    let mut qop = Qop::from_param(c.qop.as_deref())?;
    // qop without cnonce/nc (svcrack) can only be the RFC 2069 form.
    if qop != Qop::None && (c.cnonce.is_none() || c.nc.is_none()) {
        qop = Qop::None;
    }
    let body = ctx.round.request.body.as_deref();
    if qop == Qop::AuthInt && body.is_none() {
        // The correlator keeps bodies only for auth-int as it spells it;
        // without the body there is nothing to check.
        return None;
    }
    let trial = Trial {
        username: username.to_string(),
        realm: realm.to_string(),
        algorithm,
        nonce: nonce.to_string(),
        cnonce: c.cnonce.as_deref(),
        nc: c.nc.as_deref(),
        qop,
        method: ctx.ex.method.to_string(),
        uri: uri.to_string(),
        body,
    };
    let accounts = accounts_for(store, ctx, username);
    if accounts.is_empty() {
        if ctx.accepted() {
            return None;
        }
        // Maybe the right password under the wrong name.
        return fallback_accounts(store, ctx, username)
            .into_iter()
            .find(|&i| trial.matches(store, i, sent))
            .map(|i| (i, Verdict::OtherAccount));
    }
    for &i in &accounts {
        if trial.matches(store, i, sent) {
            let challenged = ctx.challenged_realm();
            return Some(match challenged {
                Some(ch) if ch != realm && !ctx.accepted() => (
                    i,
                    Verdict::RealmAsSent {
                        challenged: ch.to_string(),
                    },
                ),
                _ => (i, Verdict::Verified),
            });
        }
    }
    if ctx.accepted() {
        return Some((accounts[0], Verdict::Outdated));
    }
    if search {
        for &i in &accounts {
            let account = &store.accounts()[i];
            for v in variations(ctx, &trial, account) {
                if v.apply(&trial).matches(store, i, sent) {
                    return Some((i, Verdict::Field(v)));
                }
            }
        }
    }
    Some((accounts[0], Verdict::Wrong { searched: search }))
}

/// A finding being collected over the rounds of one exchange: the first
/// header of its kind speaks for the rest.
struct Group<'a> {
    key: (&'static str, usize, String, bool),
    count: usize,
    frames: Vec<u64>,
    ctx: Ctx<'a>,
    account: usize,
    verdict: Verdict,
}

fn rule_of(v: &Verdict) -> &'static str {
    match v {
        Verdict::Verified => "digest-verified",
        Verdict::RealmAsSent { .. } | Verdict::OtherAccount | Verdict::Field(_) => {
            "digest-field-mismatch"
        }
        Verdict::Wrong { .. } => "wrong-password",
        Verdict::Outdated => "credentials-file-outdated",
    }
}

/// Distinct responses sent for the same username, nonce, cnonce, nc and
/// uri: more than one means different passwords were tried (guessing).
fn guessing(ex: &AuthExchange) -> bool {
    let mut seen: rustc_hash::FxHashMap<[Option<&str>; 5], &str> = Default::default();
    for (_, sc) in ex.all_credentials() {
        let c = &sc.credentials;
        let (Some(resp), false) = (c.response.as_deref(), sc.relayed) else {
            continue;
        };
        let key = [
            c.username.as_deref(),
            c.nonce.as_deref(),
            c.cnonce.as_deref(),
            c.nc.as_deref(),
            c.uri.as_deref(),
        ];
        match seen.get(&key) {
            Some(first) if !first.eq_ignore_ascii_case(resp) => return true,
            Some(_) => {}
            None => {
                seen.insert(key, resp);
            }
        }
    }
    false
}

/// Checks every credentials header of the exchange against the known
/// passwords: `digest-verified`, `digest-field-mismatch`, `wrong-password`,
/// `credentials-file-outdated`.
pub fn verify_digest(ex: &AuthExchange, config: &RuleConfig, out: &mut Vec<Finding>) {
    let Some(store) = config.credentials.as_deref() else {
        return;
    };
    if store.is_empty() {
        return;
    }
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut searched = 0;
    for round in &ex.rounds {
        for (k, sc) in round.request.credentials.iter().enumerate() {
            if !sc.credentials.is_digest() || sc.relayed {
                continue;
            }
            let ctx = Ctx {
                ex,
                round,
                sc,
                answered: round.answers.get(k).and_then(Option::as_ref),
            };
            let search = searched < MAX_SEARCHED;
            let Some((account, verdict)) = judge(store, &ctx, search) else {
                continue;
            };
            if matches!(verdict, Verdict::Wrong { .. } | Verdict::Field(_)) {
                searched += 1;
            }
            let key = (
                rule_of(&verdict),
                account,
                match &verdict {
                    Verdict::Field(v) => format!("{}:{}", v.field.name(), v.source),
                    _ => String::new(),
                },
                ctx.accepted(),
            );
            let mut frames = vec![round.request.frame];
            frames.extend(round.response.as_ref().map(|r| r.frame));
            match groups.iter_mut().find(|g| g.key == key) {
                Some(g) => {
                    g.count += 1;
                    g.frames.extend(frames);
                }
                None => groups.push(Group {
                    key,
                    count: 1,
                    frames,
                    ctx,
                    account,
                    verdict,
                }),
            }
        }
    }
    if groups.is_empty() {
        return;
    }
    let guessed = guessing(ex);
    for g in groups {
        let mut f = describe(
            &g.ctx,
            &store.accounts()[g.account],
            &g.verdict,
            g.count,
            guessed,
        );
        f.frames = g.frames;
        out.push(f);
    }
}

/// "the response of 'alice'" or "15 responses of 'alice'", and the verb
/// ending that goes with it.
fn subject(count: usize, user: &str) -> (String, &'static str, &'static str) {
    if count == 1 {
        (format!("the response of {}", q(user)), "es", "does")
    } else {
        (format!("{count} responses of {}", q(user)), "", "do")
    }
}

fn status_text(round: &Round) -> String {
    match &round.response {
        Some(r) => format!("{} {}", r.status, r.reason),
        None => "no response".into(),
    }
}

fn describe(
    ctx: &Ctx<'_>,
    account: &Account,
    verdict: &Verdict,
    count: usize,
    guessed: bool,
) -> Finding {
    let ex = ctx.ex;
    let c = &ctx.sc.credentials;
    let sent_user = c.username.as_deref().unwrap_or_default().to_string();
    let sent_realm = c.realm.as_deref().unwrap_or_default().to_string();
    let algorithm = c.algorithm_or_default();
    let qop = c.qop.clone().unwrap_or_else(|| "none".into());
    let label = account.label();
    let (who, es, does) = subject(count, &sent_user);
    let answer = status_text(ctx.round);
    let base = Evidence::new()
        .add(
            "account (credentials file)",
            format!("{label} (line {})", account.line),
        )
        .add("digest username", sent_user.clone())
        .add("credentials realm", sent_realm.clone())
        .add_opt("challenge realm", ctx.challenged_realm())
        .add("algorithm", algorithm.clone())
        .add("qop", qop.clone())
        .add("method", ex.method.clone())
        .add_opt("digest uri", c.uri.clone())
        .add("Request-URI", ctx.round.request.request_uri.clone())
        .add("server answer", answer.clone());
    let alike = if count > 1 {
        format!(" ({count} responses alike)")
    } else {
        String::new()
    };
    let (message, evidence, fix) = match verdict {
        Verdict::Verified => {
            let qop_note = if c.qop.is_some() && (c.cnonce.is_none() || c.nc.is_none()) {
                format!(
                    "; the client declared qop={qop} without cnonce/nc and computed the RFC 2069 form"
                )
            } else {
                String::new()
            };
            let head = format!(
                "{who} match{es} the known password of {label} ({algorithm}, qop={qop}){qop_note}"
            );
            if guessed {
                (
                    format!(
                        "{head}: among the different passwords tried in this exchange, the right one was guessed (the server answered {answer})"
                    ),
                    base,
                    "The password of this account is known to whoever sent these requests: change it now, block the source and enforce retry limits (see brute-force).".to_string(),
                )
            } else if ctx.accepted() {
                (
                    head,
                    base,
                    "Nothing to change: the credentials are right.".to_string(),
                )
            } else if ctx.round.response.is_none() {
                (
                    format!("{head}; the capture holds no final answer to it"),
                    base,
                    "The credentials are right: if the request still fails, look at the network path (no answer was captured).".to_string(),
                )
            } else {
                (
                    format!(
                        "{head}, yet the server answered {answer}: the password is right, the rejection has another cause"
                    ),
                    base,
                    "The password and the digest are right: look at what else the server checks — the realm it expects, nonce freshness (stale or expired nonce), qop/cnonce syntax, an account locked after earlier failures (fail2ban, retry limits), IP access lists — see the other findings of this exchange.".to_string(),
                )
            }
        }
        Verdict::RealmAsSent { challenged } => (
            format!(
                "the phone computed the digest for realm {}, the server challenged with {}: the password is right, the realm is wrong{alike}",
                q(&sent_realm),
                q(challenged)
            ),
            Evidence::new()
                .add("realm used by the phone", sent_realm.clone())
                .add("realm challenged by the server", challenged.clone())
                .add("account (credentials file)", label.clone())
                .add("server answer", answer.clone()),
            format!(
                "Set the realm / SIP domain / authentication realm on the phone to {} (or leave it empty so the phone takes the realm from the challenge).",
                q(challenged)
            ),
        ),
        Verdict::OtherAccount => {
            let source = if ex.user().as_deref() == Some(user_part(&sent_user)) {
                "the From user (extension)"
            } else if ex.to_user().as_deref() == Some(user_part(&sent_user)) {
                "the To user"
            } else {
                "the configured authentication name"
            };
            (
                format!(
                    "the response was computed with the password of account {}, but the phone sends the digest username {} ({source}): the server looks the password up under {}{alike}",
                    q(&account.user),
                    q(&sent_user),
                    q(&sent_user)
                ),
                Evidence::new()
                    .add("digest username sent", sent_user.clone())
                    .add("account whose password matches", label.clone())
                    .add_opt("From user", ex.user())
                    .add("server answer", answer.clone()),
                format!(
                    "Set the authentication user name on the phone to {} and keep the extension as the user name ({}).",
                    q(&account.user),
                    field_table()
                ),
            )
        }
        Verdict::Field(v) => {
            let sent = match v.field {
                Field::Username => sent_user.clone(),
                Field::Realm => sent_realm.clone(),
                Field::Uri => c.uri.as_deref().unwrap_or_default().to_string(),
                Field::Method => ex.method.to_string(),
                Field::Algorithm => c
                    .algorithm
                    .as_deref()
                    .unwrap_or("(absent, i.e. MD5)")
                    .to_string(),
                Field::Nonce => c.nonce.as_deref().unwrap_or_default().to_string(),
                Field::Qop => c.qop.as_deref().unwrap_or("(absent)").to_string(),
            };
            let (msg, fix) = field_words(ctx, v, &sent);
            let name = v.field.name();
            let evidence = Evidence::new()
                .add("field", name)
                .add(format!("{name} sent"), sent.clone())
                .add(format!("{name} the digest was computed with"), v.value.clone())
                .add("that value is", v.source.clone())
                .add("account (credentials file)", label.clone())
                .add("server answer", answer.clone());
            let evidence = match v.frame {
                Some(f) => evidence.add("nonce issued in frame", f.to_string()),
                None => evidence,
            };
            (format!("{msg}{alike}"), evidence, fix)
        }
        Verdict::Wrong { searched } => {
            let tail = if *searched {
                "and no single-field change (username, realm, uri, method, algorithm, nonce, qop) makes a match"
            } else {
                "(too many failed responses in this exchange to search each for a single-field cause)"
            };
            if guessed {
                (
                    format!(
                        "{who} {does} not match the known password of {label}, {tail}; different passwords were tried for the same nonce: password guessing, not a misconfigured device"
                    ),
                    base.add_opt("user agent", ex.user_agent.clone()),
                    "If the source is not one of your devices, block it and enforce retry limits (see brute-force); check that the account's password is strong.".to_string(),
                )
            } else {
                (
                    format!(
                        "{who} {does} not match the known password of {label}, {tail}: the password on the device differs from the one on the server"
                    ),
                    base.add_opt("user agent", ex.user_agent.clone()),
                    "Enter the password again on the device and on the server (watch for look-alikes such as 1/l and 0/O, and for trailing spaces); if the credentials file is out of date, update it first.".to_string(),
                )
            }
        }
        Verdict::Outdated => (
            format!(
                "the server accepted {}, but {} not match the password of {label} in the credentials file",
                if count == 1 {
                    format!("the response of {}", q(&sent_user))
                } else {
                    format!("{count} responses of {}", q(&sent_user))
                },
                if count == 1 { "it does" } else { "they do" }
            ),
            base,
            "Update the credentials file: the password the server knows is not the one in the file (or the server accepts without checking).".to_string(),
        ),
    };
    // One finding covers every response of the exchange with the same
    // verdict; say how many.
    let evidence = evidence.add("responses", count.to_string());
    let rule = rule_of(verdict);
    Finding {
        rule,
        severity: match rule {
            "digest-verified" => Severity::Info,
            "credentials-file-outdated" => Severity::Warning,
            _ => Severity::Error,
        },
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames: Vec::new(),
        message,
        evidence,
        fix: fix.into(),
    }
}

fn field_words(ctx: &Ctx<'_>, v: &Variation, sent: &str) -> (String, String) {
    let value = q(&v.value);
    let source = &v.source;
    match v.field {
        Field::Realm => {
            let target = ctx.challenged_realm().unwrap_or(sent);
            let mut msg = format!(
                "the phone computed the digest for realm {value} ({source}), the server challenged with {}",
                q(target)
            );
            if sent != target {
                msg.push_str(&format!(" and the header says realm {}", q(sent)));
            }
            msg.push_str(": set the realm/SIP domain on the phone");
            (
                msg,
                format!(
                    "Set the realm / SIP domain / authentication realm on the phone to {} (or leave it empty so the phone takes the realm from the challenge); the password itself is right.",
                    q(target)
                ),
            )
        }
        Field::Username => (
            format!(
                "the phone computed the digest for username {value} ({source}) but sent username {}: the password is right, the user name used in the digest is not",
                q(sent)
            ),
            format!(
                "The server checks the digest under the username the phone sends ({}). Make the authentication user name and the user name (extension) on the phone consistent so it hashes the name it sends ({}).",
                q(sent),
                field_table()
            ),
        ),
        Field::Uri => (
            format!(
                "the digest was computed for uri {value} ({source}) but the header carries uri {}",
                q(sent)
            ),
            "The phone hashed a different URI than the one in its header, or something rewrote the request after the phone computed it: turn off SIP ALG on routers and firewalls between phone and server, check URI rewriting on SBCs or the outbound proxy, or update the phone firmware.".into(),
        ),
        Field::Method => (
            format!(
                "the digest was computed for method {value}, but the request is {}: the client reuses a digest made for another request",
                q(sent)
            ),
            "A client bug (e.g. the REGISTER digest reused for an INVITE): update the client or report it to its vendor; the password itself is right.".into(),
        ),
        Field::Algorithm => (
            format!(
                "the digest was computed with {}, but the header declares algorithm={sent}",
                v.value
            ),
            "The client declares one algorithm and computes another: a client bug. Until it is fixed, offer only one algorithm to this client (e.g. MD5 only, or SHA-256 only); the password itself is right.".into(),
        ),
        Field::Nonce => (
            format!(
                "the digest was computed with an earlier nonce {value}{}, but the header carries nonce {}",
                v.frame.map(|f| format!(" (challenge in frame {f})")).unwrap_or_default(),
                q(sent)
            ),
            "The client mixes up nonces (hashes a cached one): a client bug; restart or update the client. The password itself is right.".into(),
        ),
        Field::Qop => (
            format!(
                "the header declares qop={sent}, but the digest was computed {source}"
            ),
            "The client computes the response for another qop than it declares: a client bug; update the client, or change the server's qop offer to what the client computes. The password itself is right.".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::CredentialStore;
    use crate::rules::testutil::{exchanges, PBX, PHONE};
    use crate::sip::digest_math::compute;
    use std::sync::Arc;

    const PW: &str = "Wonder1and";

    fn config(file: &str) -> RuleConfig {
        RuleConfig {
            credentials: Some(Arc::new(CredentialStore::parse(file.as_bytes()).unwrap())),
            ..RuleConfig::default()
        }
    }

    /// Inputs of a client-side computation, defaults as a correct phone.
    struct Phone {
        user: &'static str,
        realm: &'static str,
        password: &'static str,
        method: &'static str,
        uri: &'static str,
        nonce: &'static str,
        algorithm: Algorithm,
        qop: Qop,
    }

    impl Phone {
        fn ok() -> Phone {
            Phone {
                user: "alice",
                realm: "sip.example.com",
                password: PW,
                method: "REGISTER",
                uri: "sip:sip.example.com",
                nonce: "n2",
                algorithm: Algorithm::Md5,
                qop: Qop::Auth,
            }
        }
        fn response(&self) -> String {
            compute(
                self.user,
                self.realm,
                self.password.as_bytes(),
                &ResponseInput {
                    algorithm: self.algorithm,
                    nonce: self.nonce,
                    cnonce: Some("c1"),
                    nc: Some("00000001"),
                    qop: self.qop,
                    method: self.method,
                    uri: self.uri,
                    body: None,
                },
            )
            .unwrap()
        }
    }

    /// A REGISTER by extension 200 (From/To user), challenged twice, the
    /// second time answered with `header` (digest params after "Digest ").
    fn run(header_params: &str, final_status: u16, file: &str) -> Vec<Finding> {
        run_in("sip.example.com", header_params, final_status, file)
    }

    fn run_in(realm: &str, header_params: &str, final_status: u16, file: &str) -> Vec<Finding> {
        let req = |cseq: u32, branch: &str, auth: &str| {
            format!(
                "REGISTER sip:sip.example.com:5060;transport=udp SIP/2.0\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK{branch}\n\
From: <sip:200@sip.example.com>;tag=ft1\n\
To: <sip:200@sip.example.com>\n\
Call-ID: cid-v@10.0.0.5\n\
CSeq: {cseq} REGISTER\n\
{auth}Content-Length: 0\n\n"
            )
        };
        let resp = |status: u16, reason: &str, cseq: u32, branch: &str, extra: &str| {
            format!(
                "SIP/2.0 {status} {reason}\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK{branch}\n\
From: <sip:200@sip.example.com>;tag=ft1\n\
To: <sip:200@sip.example.com>;tag=tt1\n\
Call-ID: cid-v@10.0.0.5\n\
CSeq: {cseq} REGISTER\n\
{extra}Content-Length: 0\n\n"
            )
        };
        let ch = |n: &str| {
            format!("WWW-Authenticate: Digest realm=\"{realm}\", nonce=\"{n}\", qop=\"auth\"\n")
        };
        let auth = format!("Authorization: Digest {header_params}\n");
        let reason = if final_status == 200 {
            "OK"
        } else {
            "Unauthorized"
        };
        let final_extra = if final_status == 401 {
            ch("n3")
        } else {
            String::new()
        };
        let msgs = [
            req(1, "a", ""),
            resp(401, "Unauthorized", 1, "a", &ch("n1")),
            req(2, "b", ""),
            resp(401, "Unauthorized", 2, "b", &ch("n2")),
            req(3, "c", &auth),
            resp(final_status, reason, 3, "c", &final_extra),
        ];
        let exs = exchanges(&[
            (PHONE, PBX, 0.0, &msgs[0]),
            (PBX, PHONE, 0.01, &msgs[1]),
            (PHONE, PBX, 0.02, &msgs[2]),
            (PBX, PHONE, 0.03, &msgs[3]),
            (PHONE, PBX, 0.04, &msgs[4]),
            (PBX, PHONE, 0.05, &msgs[5]),
        ]);
        let config = config(file);
        let mut out = Vec::new();
        for ex in &exs {
            verify_digest(ex, &config, &mut out);
        }
        out
    }

    /// Header parameters as a phone sends them: `sent` are the values in
    /// the header, the response is computed from `computed`.
    fn header(sent: &Phone, computed: &Phone) -> String {
        let alg = match sent.algorithm {
            Algorithm::Md5 => String::new(),
            a => format!(", algorithm={a}"),
        };
        let qop = match sent.qop.token() {
            Some(t) => format!(", qop={t}, cnonce=\"c1\", nc=00000001"),
            None => String::new(),
        };
        format!(
            "username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\"{alg}{qop}",
            sent.user,
            sent.realm,
            sent.nonce,
            sent.uri,
            computed.response()
        )
    }

    const FILE: &str = "# test\nalice@sip.example.com:Wonder1and\n";

    fn only(findings: &[Finding]) -> &Finding {
        assert_eq!(findings.len(), 1, "{findings:#?}");
        &findings[0]
    }

    #[test]
    fn correct_answer_is_verified_and_names_no_field() {
        let f = run(&header(&Phone::ok(), &Phone::ok()), 200, FILE);
        let f = only(&f);
        assert_eq!(f.rule, "digest-verified");
        assert_eq!(f.severity, Severity::Info);
        assert!(
            f.message.contains("matches the known password"),
            "{}",
            f.message
        );
    }

    #[test]
    fn verified_but_rejected_says_look_elsewhere() {
        let f = run(&header(&Phone::ok(), &Phone::ok()), 401, FILE);
        let f = only(&f);
        assert_eq!(f.rule, "digest-verified");
        assert!(f.message.contains("another cause"), "{}", f.message);
    }

    #[test]
    fn wrong_password() {
        let bad = Phone {
            password: "Wonderland",
            ..Phone::ok()
        };
        let f = run(&header(&Phone::ok(), &bad), 401, FILE);
        let f = only(&f);
        assert_eq!(f.rule, "wrong-password");
        assert_eq!(f.severity, Severity::Error);
        assert!(!format!("{f:?}").contains(PW));
        assert!(!format!("{f:?}").contains("Wonderland"));
    }

    #[test]
    fn server_accepting_a_mismatch_means_the_file_is_outdated() {
        let f = run(&header(&Phone::ok(), &Phone::ok()), 200, "alice:Other\n");
        assert_eq!(only(&f).rule, "credentials-file-outdated");
    }

    fn field(sent: Phone, computed: Phone) -> Finding {
        let f = run(&header(&sent, &computed), 401, FILE);
        let f = only(&f).clone();
        assert_eq!(f.rule, "digest-field-mismatch", "{f:#?}");
        f
    }

    fn evidence<'a>(f: &'a Finding, name: &str) -> &'a str {
        f.evidence
            .0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {f:#?}"))
    }

    #[test]
    fn realm_computed_with_the_sip_domain() {
        // The server challenges with realm 'asterisk'; the phone echoes it
        // but hashes its SIP domain (the From host).
        let sent = Phone {
            realm: "asterisk",
            ..Phone::ok()
        };
        let f = run_in(
            "asterisk",
            &header(&sent, &Phone::ok()),
            401,
            "alice:Wonder1and\n",
        );
        let f = only(&f);
        assert_eq!(f.rule, "digest-field-mismatch");
        assert_eq!(evidence(f, "field"), "realm");
        assert!(
            f.message.contains(
                "computed the digest for realm 'sip.example.com' (the From host), the server challenged with 'asterisk'"
            ),
            "{}",
            f.message
        );
        assert!(f.fix.contains("'asterisk'"));
    }

    #[test]
    fn realm_sent_as_configured_not_as_challenged() {
        let sent = Phone {
            realm: "asterisk",
            ..Phone::ok()
        };
        let computed = Phone {
            realm: "asterisk",
            ..Phone::ok()
        };
        let f = field(sent, computed);
        assert!(
            f.message
                .contains("computed the digest for realm 'asterisk', the server challenged with 'sip.example.com'"),
            "{}",
            f.message
        );
        assert!(f.fix.contains("'sip.example.com'"));
    }

    #[test]
    fn username_from_user_instead_of_auth_user() {
        let f = field(
            Phone::ok(),
            Phone {
                user: "200",
                ..Phone::ok()
            },
        );
        assert_eq!(evidence(&f, "field"), "username");
        assert_eq!(evidence(&f, "username the digest was computed with"), "200");
        assert!(f.message.contains("the From user"), "{}", f.message);
    }

    #[test]
    fn username_with_domain() {
        let f = field(
            Phone::ok(),
            Phone {
                user: "alice@sip.example.com",
                ..Phone::ok()
            },
        );
        assert_eq!(evidence(&f, "field"), "username");
        assert!(
            f.message.contains("'alice@sip.example.com'"),
            "{}",
            f.message
        );
    }

    #[test]
    fn username_sent_with_at_but_hashed_without() {
        let f = field(
            Phone {
                user: "alice@",
                ..Phone::ok()
            },
            Phone::ok(),
        );
        assert_eq!(evidence(&f, "field"), "username");
        assert_eq!(evidence(&f, "username sent"), "alice@");
        assert_eq!(
            evidence(&f, "username the digest was computed with"),
            "alice"
        );
        assert!(f.message.contains("without '@...'"), "{}", f.message);
    }

    #[test]
    fn extension_sent_as_digest_username() {
        // The phone sends its extension 200 and the password of alice.
        let p = Phone {
            user: "200",
            ..Phone::ok()
        };
        let f = run(&header(&p, &p), 401, FILE);
        let f = only(&f);
        assert_eq!(f.rule, "digest-field-mismatch");
        assert!(
            f.message.contains("password of account 'alice'"),
            "{}",
            f.message
        );
        assert!(f.message.contains("From user"), "{}", f.message);
    }

    #[test]
    fn uri_without_port_and_parameters() {
        let f = field(
            Phone {
                uri: "sip:sip.example.com:5060;transport=udp",
                ..Phone::ok()
            },
            Phone {
                uri: "sip:sip.example.com",
                ..Phone::ok()
            },
        );
        assert_eq!(evidence(&f, "field"), "uri");
        assert!(f.message.contains("'sip:sip.example.com'"), "{}", f.message);
    }

    #[test]
    fn uri_is_to_uri() {
        let f = field(
            Phone::ok(),
            Phone {
                uri: "sip:200@sip.example.com",
                ..Phone::ok()
            },
        );
        assert_eq!(evidence(&f, "field"), "uri");
        assert!(f.message.contains("the To URI"), "{}", f.message);
    }

    #[test]
    fn method_invite_for_register() {
        let f = field(
            Phone::ok(),
            Phone {
                method: "INVITE",
                ..Phone::ok()
            },
        );
        assert_eq!(evidence(&f, "field"), "method");
        assert!(f.message.contains("method 'INVITE'"), "{}", f.message);
    }

    #[test]
    fn algorithm_declared_sha256_computed_md5() {
        let f = field(
            Phone {
                algorithm: Algorithm::Sha256,
                ..Phone::ok()
            },
            Phone::ok(),
        );
        assert_eq!(evidence(&f, "field"), "algorithm");
        assert!(
            f.message
                .contains("computed with MD5, but the header declares algorithm=SHA-256"),
            "{}",
            f.message
        );
    }

    #[test]
    fn earlier_nonce() {
        let f = field(
            Phone::ok(),
            Phone {
                nonce: "n1",
                ..Phone::ok()
            },
        );
        assert_eq!(evidence(&f, "field"), "nonce");
        assert!(
            f.message
                .contains("earlier nonce 'n1' (challenge in frame 2)"),
            "{}",
            f.message
        );
    }

    #[test]
    fn qop_declared_but_not_computed() {
        let f = field(
            Phone::ok(),
            Phone {
                qop: Qop::None,
                ..Phone::ok()
            },
        );
        assert_eq!(evidence(&f, "field"), "qop");
        assert!(f.message.contains("without qop"), "{}", f.message);
    }

    #[test]
    fn auth_int_in_any_letter_case_keeps_the_body_and_is_judged() {
        // The correlator keeps the body for qop=auth-int in any letter
        // case, so a wrong response gets a verdict.
        let params = "username=\"alice\", realm=\"sip.example.com\", nonce=\"n2\", uri=\"sip:sip.example.com\", response=\"0123456789abcdef0123456789abcdef\", qop=AUTH-INT, cnonce=\"c1\", nc=00000001";
        let f = run(params, 401, FILE);
        assert!(!f.is_empty(), "no verdict");
    }

    #[test]
    fn user_at_verbatim_is_verified() {
        let p = Phone {
            user: "alice@",
            ..Phone::ok()
        };
        let f = run(&header(&p, &p), 200, FILE);
        assert_eq!(only(&f).rule, "digest-verified");
    }

    #[test]
    fn sha512_256_sess_verified() {
        let p = Phone {
            algorithm: Algorithm::Sha512_256Sess,
            ..Phone::ok()
        };
        let f = run(&header(&p, &p), 200, FILE);
        assert_eq!(only(&f).rule, "digest-verified");
    }

    #[test]
    fn no_credentials_no_findings() {
        let f = run(&header(&Phone::ok(), &Phone::ok()), 200, "bob@other:x\n");
        assert!(f.is_empty(), "{f:#?}");
        let exs = crate::rules::testutil::one_retry(
            crate::rules::testutil::WWW_QOP,
            &crate::rules::testutil::auth_qop("alice"),
            401,
            "Unauthorized",
        );
        let mut out = Vec::new();
        verify_digest(&exs[0], &RuleConfig::default(), &mut out);
        assert!(out.is_empty());
    }

    /// REGISTER -> 401 -> `auths.len()` retries, each answered by 401 with
    /// the same nonce n1 (no qop offered).
    fn rounds(auths: &[String]) -> Vec<AuthExchange> {
        use crate::rules::testutil::{register, response, WWW_NOQOP};
        let mut msgs = vec![
            register(1, "a", None),
            response(401, "Unauthorized", 1, "a", Some(WWW_NOQOP)),
        ];
        for (i, a) in auths.iter().enumerate() {
            let cseq = i as u32 + 2;
            let branch = format!("r{i}");
            msgs.push(register(cseq, &branch, Some(a)));
            msgs.push(response(
                401,
                "Unauthorized",
                cseq,
                &branch,
                Some(WWW_NOQOP),
            ));
        }
        let with_addr: Vec<(&str, &str, f64, &str)> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (s, d) = if i % 2 == 0 {
                    (PHONE, PBX)
                } else {
                    (PBX, PHONE)
                };
                (s, d, i as f64 * 0.01, m.as_str())
            })
            .collect();
        exchanges(&with_addr)
    }

    fn rfc2069(password: &str, qop_param: &str) -> String {
        let r = compute(
            "alice",
            "lab.example",
            password.as_bytes(),
            &ResponseInput {
                algorithm: Algorithm::Md5,
                nonce: "n1",
                cnonce: None,
                nc: None,
                qop: Qop::None,
                method: "REGISTER",
                uri: "sip:lab.example",
                body: None,
            },
        )
        .unwrap();
        format!("Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"{r}\"{qop_param}")
    }

    fn verify_all(exs: &[AuthExchange], file: &str) -> Vec<Finding> {
        let config = config(file);
        let mut out = Vec::new();
        for ex in exs {
            verify_digest(ex, &config, &mut out);
        }
        out
    }

    #[test]
    fn a_loop_of_the_same_wrong_answer_is_one_finding() {
        // The same wrong password hashed against the same nonce: a phone
        // retrying, not guessing.
        let a = rfc2069("wrong", "");
        let exs = rounds(&[a.clone(), a.clone(), a]);
        let f = verify_all(&exs, "alice@lab.example:Wonder1and\n");
        let f = only(&f);
        assert_eq!(f.rule, "wrong-password");
        assert!(
            f.message.starts_with("3 responses of 'alice' do not match"),
            "{}",
            f.message
        );
        assert!(f.message.contains("differs from the one on the server"));
        assert_eq!(f.frames, vec![3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn different_responses_for_one_nonce_are_guessing() {
        let exs = rounds(&[
            rfc2069("123456", ""),
            rfc2069("password", ""),
            rfc2069(PW, ""),
        ]);
        let f = verify_all(&exs, "alice@lab.example:Wonder1and\n");
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(f[0].rule, "wrong-password");
        assert!(
            f[0].message.contains("password guessing"),
            "{}",
            f[0].message
        );
        assert_eq!(f[1].rule, "digest-verified");
        assert!(f[1].message.contains("guessed"), "{}", f[1].message);
        assert!(f[1].fix.contains("change it"));
    }

    #[test]
    fn qop_without_cnonce_is_checked_in_rfc2069_form() {
        // svcrack: qop=auth declared, no cnonce/nc, RFC 2069 response.
        let exs = rounds(&[rfc2069(PW, ", qop=auth")]);
        let f = verify_all(&exs, "alice:Wonder1and\n");
        let f = only(&f);
        assert_eq!(f.rule, "digest-verified");
        assert!(f.message.contains("without cnonce/nc"), "{}", f.message);
        assert!(f.message.contains("another cause"), "{}", f.message);
    }

    #[test]
    fn relayed_credentials_are_not_checked_twice() {
        // The phone's INVITE to the proxy, then the proxy relaying the same
        // Proxy-Authorization to the callee: one check, not two.
        let r = compute(
            "alice",
            "lab.example",
            PW.as_bytes(),
            &ResponseInput {
                algorithm: Algorithm::Md5,
                nonce: "n1",
                cnonce: None,
                nc: None,
                qop: Qop::None,
                method: "INVITE",
                uri: "sip:bob@lab.example",
                body: None,
            },
        )
        .unwrap();
        let invite = |via: &str, branch: &str, cseq: u32, auth: bool| {
            let auth = if auth {
                format!("Proxy-Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:bob@lab.example\", response=\"{r}\"\n")
            } else {
                String::new()
            };
            format!(
                "INVITE sip:bob@lab.example SIP/2.0\n\
Via: SIP/2.0/UDP {via};branch=z9hG4bK{branch}\n\
From: <sip:alice@lab.example>;tag=fa\n\
To: <sip:bob@lab.example>\n\
Call-ID: call-1\n\
CSeq: {cseq} INVITE\n\
{auth}Content-Length: 0\n\n"
            )
        };
        let resp = |status: u16, reason: &str, via: &str, branch: &str, cseq: u32, extra: &str| {
            format!(
                "SIP/2.0 {status} {reason}\n\
Via: SIP/2.0/UDP {via};branch=z9hG4bK{branch}\n\
From: <sip:alice@lab.example>;tag=fa\n\
To: <sip:bob@lab.example>;tag=tb\n\
Call-ID: call-1\n\
CSeq: {cseq} INVITE\n\
{extra}Content-Length: 0\n\n"
            )
        };
        let bob = "10.0.0.9:5060";
        let msgs = [
            invite(PHONE, "i1", 1, false),
            resp(
                407,
                "Proxy Authentication Required",
                PHONE,
                "i1",
                1,
                "Proxy-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\"\n",
            ),
            invite(PHONE, "i2", 2, true),
            invite(PBX, "p2", 2, true),
            resp(200, "OK", PBX, "p2", 2, ""),
            resp(200, "OK", PHONE, "i2", 2, ""),
        ];
        let exs = exchanges(&[
            (PHONE, PBX, 0.0, &msgs[0]),
            (PBX, PHONE, 0.01, &msgs[1]),
            (PHONE, PBX, 0.02, &msgs[2]),
            (PBX, bob, 0.03, &msgs[3]),
            (bob, PBX, 0.04, &msgs[4]),
            (PBX, PHONE, 0.05, &msgs[5]),
        ]);
        let f = verify_all(&exs, "alice@lab.example:Wonder1and\n");
        let f = only(&f);
        assert_eq!(f.rule, "digest-verified");
        assert_eq!(f.frames, vec![3, 6]);
    }

    #[test]
    fn auth_int_uses_the_request_body() {
        let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\n";
        let r = compute(
            "alice",
            "lab.example",
            PW.as_bytes(),
            &ResponseInput {
                algorithm: Algorithm::Md5,
                nonce: "n1",
                cnonce: Some("c1"),
                nc: Some("00000001"),
                qop: Qop::AuthInt,
                method: "INVITE",
                uri: "sip:bob@lab.example",
                body: Some(body.as_bytes()),
            },
        )
        .unwrap();
        let invite = |branch: &str, cseq: u32, auth: &str| {
            format!(
                "INVITE sip:bob@lab.example SIP/2.0\n\
Via: SIP/2.0/UDP {PHONE};branch=z9hG4bK{branch}\n\
From: <sip:alice@lab.example>;tag=fa\n\
To: <sip:bob@lab.example>\n\
Call-ID: call-ai\n\
CSeq: {cseq} INVITE\n\
Content-Type: application/sdp\n\
{auth}Content-Length: {}\n\n{body}",
                body.len()
            )
        };
        let resp = |status: u16, reason: &str, branch: &str, cseq: u32, extra: &str| {
            format!(
                "SIP/2.0 {status} {reason}\n\
Via: SIP/2.0/UDP {PHONE};branch=z9hG4bK{branch}\n\
From: <sip:alice@lab.example>;tag=fa\n\
To: <sip:bob@lab.example>;tag=tb\n\
Call-ID: call-ai\n\
CSeq: {cseq} INVITE\n\
{extra}Content-Length: 0\n\n"
            )
        };
        let auth = format!("Proxy-Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:bob@lab.example\", response=\"{r}\", qop=auth-int, cnonce=\"c1\", nc=00000001\n");
        let msgs = [
            invite("i1", 1, ""),
            resp(
                407,
                "Proxy Authentication Required",
                "i1",
                1,
                "Proxy-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\", qop=\"auth-int\"\n",
            ),
            invite("i2", 2, &auth),
            resp(200, "OK", "i2", 2, ""),
        ];
        let exs = exchanges(&[
            (PHONE, PBX, 0.0, &msgs[0]),
            (PBX, PHONE, 0.01, &msgs[1]),
            (PHONE, PBX, 0.02, &msgs[2]),
            (PBX, PHONE, 0.03, &msgs[3]),
        ]);
        let f = verify_all(&exs, "alice@lab.example:Wonder1and\n");
        assert_eq!(only(&f).rule, "digest-verified", "{f:#?}");
    }
}
