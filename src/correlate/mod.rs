//! Transactions and authentication exchanges.
//!
//! An [`AuthExchange`] is one request's way through digest authentication:
//! the first request, each 401/407 challenge, each retry with credentials,
//! and the final answer, over as many rounds as happen. Rounds are linked by
//! Call-ID + From tag + method on the same hop (client, server), and, for
//! clients that start a new Call-ID after a challenge, by (source, From URI,
//! To URI, method) within the answer window. Whoever sends the request is
//! the client of that exchange, so reversed roles (a phone challenging a
//! provisioning server's NOTIFY) need no special case. Retransmissions are
//! recognised per transaction (top Via branch, CSeq, Call-ID) and content,
//! and counted, not analysed twice.

use crate::capture::{Transport, Ts};
use crate::sip::message::{trim, NameAddr, UriParts};
use crate::sip::{AuthHeader, Challenge, Credentials, HeaderKind, Message};
use rustc_hash::{FxHashMap, FxHasher};
use serde::Serialize;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

/// Where one SIP message came from.
#[derive(Clone, Copy, Debug)]
pub struct MessageMeta {
    pub input: u16,
    pub frame: u64,
    pub ts: Ts,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub transport: Transport,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Succeeded,
    Failed,
    Unanswered,
    Incomplete,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Unanswered => "unanswered",
            Outcome::Incomplete => "incomplete",
        }
    }
}

/// Credentials as sent in one request.
#[derive(Clone, Debug, Serialize)]
pub struct SentCredentials {
    pub header: AuthHeader,
    pub credentials: Credentials,
    /// The same response value was first sent by another client or to
    /// another server: a proxy relays these credentials, they were not
    /// computed for this hop.
    pub relayed: bool,
}

/// A challenge as issued in one response.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedChallenge {
    pub header: AuthHeader,
    pub challenge: Challenge,
}

/// The challenge a set of credentials answers, found by nonce (or, failing
/// that, the latest challenge of the exchange).
#[derive(Clone, Debug, Serialize)]
pub struct AnsweredChallenge {
    pub header: AuthHeader,
    pub challenge: Challenge,
    pub frame: u64,
    pub ts: Ts,
    /// The challenge was issued by this request's server to this request's
    /// client. When false the credentials travel a hop they were not made
    /// for (a proxy relaying them), so hop-specific checks are skipped.
    pub same_hop: bool,
    /// Found by nonce (true) or only as the exchange's latest challenge.
    pub by_nonce: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct RequestInfo {
    pub frame: u64,
    pub ts: Ts,
    pub cseq: u32,
    pub branch: String,
    pub request_uri: String,
    pub call_id: String,
    pub credentials: Vec<SentCredentials>,
    /// Raw credentials header values that did not parse as anything.
    pub retransmissions: u32,
    pub retransmission_frames: Vec<u64>,
    /// The body, kept only when qop=auth-int needs it for verification.
    #[serde(skip)]
    pub body: Option<Vec<u8>>,
    #[serde(skip)]
    content_hash: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResponseInfo {
    pub frame: u64,
    pub ts: Ts,
    pub status: u16,
    pub reason: String,
    pub challenges: Vec<IssuedChallenge>,
    pub warning: Option<String>,
    pub retransmissions: u32,
    pub retransmission_frames: Vec<u64>,
}

impl ResponseInfo {
    pub fn is_challenge(&self) -> bool {
        self.status == 401 || self.status == 407
    }
    pub fn digest_challenges(&self) -> impl Iterator<Item = &IssuedChallenge> {
        self.challenges.iter().filter(|c| c.challenge.is_digest())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Round {
    pub request: RequestInfo,
    pub provisional: Option<(u64, u16)>,
    pub response: Option<ResponseInfo>,
    /// For each credentials header of the request (same order), the
    /// challenge it answers, if it was seen.
    pub answers: Vec<Option<AnsweredChallenge>>,
}

impl Round {
    pub fn has_credentials(&self) -> bool {
        !self.request.credentials.is_empty()
    }
    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.status)
    }
    pub fn challenged(&self) -> bool {
        self.response
            .as_ref()
            .is_some_and(ResponseInfo::is_challenge)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AuthExchange {
    pub id: usize,
    pub input: u16,
    pub method: String,
    pub call_ids: Vec<String>,
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    pub transport: Transport,
    pub from_uri: String,
    pub to_uri: String,
    pub from_tag: String,
    pub user_agent: Option<String>,
    pub server_agent: Option<String>,
    pub rounds: Vec<Round>,
    pub outcome: Outcome,
    pub final_status: Option<u16>,
    /// How it failed, in words, when it did.
    pub failure: Option<String>,
    pub first_ts: Ts,
    pub last_ts: Ts,
    /// Every frame of the exchange in capture order, retransmissions too.
    pub frames: Vec<u64>,
    /// The capture went on this long after the exchange's last message.
    pub observed_after: f64,
}

/// An address for reports; "?" when the input did not say.
pub fn endpoint(a: Option<SocketAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_else(|| "?".into())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl AuthExchange {
    /// The user part of the From URI: the account placing the request.
    pub fn user(&self) -> Option<String> {
        UriParts::parse(self.from_uri.as_bytes()).user.map(lossy)
    }
    pub fn to_user(&self) -> Option<String> {
        UriParts::parse(self.to_uri.as_bytes()).user.map(lossy)
    }
    pub fn from_host(&self) -> String {
        lossy(UriParts::parse(self.from_uri.as_bytes()).host)
    }
    pub fn to_host(&self) -> String {
        lossy(UriParts::parse(self.to_uri.as_bytes()).host)
    }
    /// The digest username of the last credentials sent.
    pub fn auth_user(&self) -> Option<String> {
        self.all_credentials()
            .last()
            .and_then(|(_, c)| c.credentials.username.clone())
    }
    /// The realm the server challenged with (else the one the client used).
    pub fn realm(&self) -> Option<String> {
        self.all_challenges()
            .find_map(|(_, c)| c.challenge.realm.clone())
            .or_else(|| {
                self.all_credentials()
                    .find_map(|(_, c)| c.credentials.realm.clone())
            })
    }
    pub fn all_challenges(&self) -> impl Iterator<Item = (usize, &IssuedChallenge)> {
        self.rounds.iter().enumerate().flat_map(|(i, r)| {
            r.response
                .iter()
                .flat_map(|resp| resp.challenges.iter())
                .map(move |c| (i, c))
        })
    }
    pub fn all_credentials(&self) -> impl Iterator<Item = (usize, &SentCredentials)> {
        self.rounds
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.request.credentials.iter().map(move |c| (i, c)))
    }
    /// Kept for the report: it involves authentication, or is a REGISTER
    /// (whose silence is worth reporting too).
    pub fn worth_reporting(&self) -> bool {
        self.was_challenged()
            || self.sent_credentials()
            || self.method.eq_ignore_ascii_case("REGISTER")
    }
    pub fn was_challenged(&self) -> bool {
        self.rounds.iter().any(Round::challenged)
    }
    pub fn sent_credentials(&self) -> bool {
        self.rounds.iter().any(Round::has_credentials)
    }
    /// Authentication itself failed (not, say, a 488 after accepted
    /// credentials).
    pub fn auth_failed(&self) -> bool {
        match self.outcome {
            Outcome::Failed => match self.rounds.last() {
                Some(r) => r.challenged() || matches!(r.status(), Some(403)),
                None => false,
            },
            _ => false,
        }
    }
    pub fn rounds_count(&self) -> usize {
        self.rounds.len()
    }
    /// Number of challenges received.
    pub fn challenge_count(&self) -> usize {
        self.rounds.iter().filter(|r| r.challenged()).count()
    }
}

/// Correlation settings.
#[derive(Clone, Copy, Debug)]
pub struct CorrelateConfig {
    /// How long a client may take to answer a challenge, and how long a
    /// request may wait for its final response (RFC 3261 Timer B/F: 32 s),
    /// before the exchange counts as abandoned rather than cut by the end
    /// of the capture.
    pub answer_timeout: f64,
    /// Nonces remembered for answering preemptive credentials.
    pub max_nonces: usize,
    /// Most exchanges followed at once (waiting for a response or for a
    /// retry). Beyond it the oldest open one is settled early and, unless
    /// it involved authentication (a challenge or credentials), forgotten:
    /// a flood of unanswered
    /// requests cannot grow memory without bound.
    pub max_open_exchanges: usize,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        CorrelateConfig {
            answer_timeout: 32.0,
            max_nonces: 200_000,
            max_open_exchanges: 20_000,
        }
    }
}

#[derive(Clone, Copy)]
struct TxEntry {
    exchange: usize,
    round: usize,
}

#[derive(Clone, Debug)]
struct NonceEntry {
    header: AuthHeader,
    challenge: Challenge,
    frame: u64,
    ts: Ts,
    client: Option<SocketAddr>,
    server: Option<SocketAddr>,
    exchange: usize,
}

/// Counters of what could not be correlated.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CorrelateStats {
    pub requests: u64,
    pub responses: u64,
    pub retransmissions: u64,
    pub orphan_responses: u64,
    pub missing_headers: u64,
    /// Open exchanges settled early because `max_open_exchanges` were open.
    pub evicted_exchanges: u64,
}

pub struct Correlator {
    config: CorrelateConfig,
    exchanges: Vec<AuthExchange>,
    /// Open exchanges by (Call-ID, From tag, method, client, server).
    open: FxHashMap<u64, usize>,
    /// Exchanges waiting for a retry, by (client, From URI, To URI, method).
    awaiting: FxHashMap<u64, usize>,
    tx: FxHashMap<u64, TxEntry>,
    nonces: FxHashMap<String, NonceEntry>,
    nonce_order: VecDeque<String>,
    /// First (client, server) hop of each digest response value.
    responses: FxHashMap<u64, (Option<SocketAddr>, Option<SocketAddr>)>,
    closed: Vec<bool>,
    /// Exchanges forgotten on eviction; removed for good by `compact`.
    dropped: Vec<bool>,
    dropped_count: usize,
    /// Exchange indexes in creation order, for evicting the oldest open
    /// one (closed ones are skipped lazily).
    open_order: VecDeque<usize>,
    open_count: usize,
    evictions_unreported: u64,
    pub stats: CorrelateStats,
    last_ts: Ts,
}

fn hash_of<T: Hash>(t: T) -> u64 {
    let mut h = FxHasher::default();
    t.hash(&mut h);
    h.finish()
}

/// Request methods that never get their own authentication exchange.
fn not_challengeable(method: &[u8]) -> bool {
    method.eq_ignore_ascii_case(b"ACK") || method.eq_ignore_ascii_case(b"CANCEL")
}

impl Correlator {
    pub fn new(config: CorrelateConfig) -> Correlator {
        Correlator {
            config,
            exchanges: Vec::new(),
            open: FxHashMap::default(),
            awaiting: FxHashMap::default(),
            tx: FxHashMap::default(),
            nonces: FxHashMap::default(),
            nonce_order: VecDeque::new(),
            responses: FxHashMap::default(),
            closed: Vec::new(),
            dropped: Vec::new(),
            dropped_count: 0,
            open_order: VecDeque::new(),
            open_count: 0,
            evictions_unreported: 0,
            stats: CorrelateStats::default(),
            last_ts: Ts(i64::MIN),
        }
    }

    pub fn message(&mut self, meta: &MessageMeta, msg: &Message<'_>) {
        if meta.ts > self.last_ts {
            self.last_ts = meta.ts;
        }
        if msg.is_request() {
            self.request(meta, msg);
        } else {
            self.response(meta, msg);
        }
    }

    fn tx_key(branch: &[u8], cseq: u32, method: &[u8], call_id: &[u8]) -> u64 {
        hash_of((branch, cseq, method.to_ascii_uppercase(), call_id))
    }

    fn request(&mut self, meta: &MessageMeta, msg: &Message<'_>) {
        self.stats.requests += 1;
        let (Some(method), Some(call_id), Some((cseq, _)), Some(from), Some(to)) = (
            msg.method(),
            msg.call_id(),
            msg.cseq(),
            msg.header(HeaderKind::From),
            msg.header(HeaderKind::To),
        ) else {
            self.stats.missing_headers += 1;
            return;
        };
        if not_challengeable(method) {
            return;
        }
        let branch = msg.via_branch().unwrap_or(b"");
        let content_hash = hash_of(msg.raw);
        let txk = Self::tx_key(branch, cseq, method, call_id);
        if let Some(t) = self.tx.get(&txk).copied() {
            let ex = &mut self.exchanges[t.exchange];
            let req = &mut ex.rounds[t.round].request;
            if req.content_hash == content_hash || branch.is_empty() && req.cseq == cseq {
                req.retransmissions += 1;
                req.retransmission_frames.push(meta.frame);
                ex.frames.push(meta.frame);
                ex.last_ts = ex.last_ts.max(meta.ts);
                self.stats.retransmissions += 1;
                return;
            }
        }
        let from = NameAddr::parse(from);
        let to = NameAddr::parse(to);
        let from_tag = from.tag.unwrap_or(b"");
        let ek = hash_of((
            call_id,
            from_tag,
            method.to_ascii_uppercase(),
            meta.src,
            meta.dst,
        ));
        let ik = hash_of((meta.src, from.uri, to.uri, method.to_ascii_uppercase()));

        let mut sent = Vec::new();
        for (kind, header) in [
            (HeaderKind::Authorization, AuthHeader::Authorization),
            (
                HeaderKind::ProxyAuthorization,
                AuthHeader::ProxyAuthorization,
            ),
        ] {
            for v in msg.headers_of(kind) {
                let credentials = Credentials::parse(v);
                let relayed = match &credentials.response {
                    Some(r) => self.first_sender(r, meta),
                    None => false,
                };
                sent.push(SentCredentials {
                    header,
                    credentials,
                    relayed,
                });
            }
        }
        let credentials = sent;
        let wants_body = credentials
            .iter()
            .any(|c| c.credentials.qop.as_deref() == Some("auth-int"));
        let request = RequestInfo {
            frame: meta.frame,
            ts: meta.ts,
            cseq,
            branch: lossy(branch),
            request_uri: lossy(msg.request_uri().unwrap_or(b"")),
            call_id: lossy(call_id),
            credentials,
            retransmissions: 0,
            retransmission_frames: Vec::new(),
            body: wants_body.then(|| msg.body.to_vec()),
            content_hash,
        };

        // Which exchange does this request continue?
        let mut target = self.open.get(&ek).copied().filter(|&i| !self.closed[i]);
        if target.is_none() {
            // Credentials answering a challenge of an exchange that still
            // waits for its retry, whatever the Call-ID and however late.
            for sc in &request.credentials {
                let Some(n) = sc
                    .credentials
                    .nonce
                    .as_deref()
                    .and_then(|n| self.nonces.get(n))
                else {
                    continue;
                };
                let i = n.exchange;
                let ex = &self.exchanges[i];
                if !self.closed[i]
                    && n.client == meta.src
                    && n.server == meta.dst
                    && ex.method.as_bytes().eq_ignore_ascii_case(method)
                    && ex.rounds.last().is_some_and(Round::challenged)
                {
                    target = Some(i);
                    self.open.insert(ek, i);
                    break;
                }
            }
        }
        if target.is_none() && !request.credentials.is_empty() {
            // A client that starts a new Call-ID to answer a challenge.
            if let Some(&i) = self.awaiting.get(&ik) {
                let ex = &self.exchanges[i];
                let fresh = meta.ts.since(ex.last_ts) <= self.config.answer_timeout;
                let challenged = ex.rounds.last().is_some_and(Round::challenged);
                if !self.closed[i] && fresh && challenged {
                    target = Some(i);
                    self.open.insert(ek, i);
                }
            }
        }
        if target.is_none() {
            // A fresh attempt from the same client abandons an earlier
            // exchange still waiting for a retry.
            if let Some(&old) = self.awaiting.get(&ik) {
                if !self.closed[old] {
                    self.close_abandoned(old);
                }
            }
        }
        let idx = match target {
            Some(i) => i,
            None => {
                if self.open_count >= self.config.max_open_exchanges.max(1) {
                    self.evict_oldest_open();
                }
                let id = self.exchanges.len();
                let user_agent = msg.header(HeaderKind::UserAgent).map(lossy);
                self.exchanges.push(AuthExchange {
                    id,
                    input: meta.input,
                    method: lossy(method),
                    call_ids: Vec::new(),
                    client: meta.src,
                    server: meta.dst,
                    transport: meta.transport,
                    from_uri: lossy(from.uri),
                    to_uri: lossy(to.uri),
                    from_tag: lossy(from_tag),
                    user_agent,
                    server_agent: None,
                    rounds: Vec::new(),
                    outcome: Outcome::Incomplete,
                    final_status: None,
                    failure: None,
                    first_ts: meta.ts,
                    last_ts: meta.ts,
                    frames: Vec::new(),
                    observed_after: 0.0,
                });
                self.closed.push(false);
                self.dropped.push(false);
                self.open.insert(ek, id);
                self.open_order.push_back(id);
                self.open_count += 1;
                id
            }
        };
        let answers = self.resolve_answers(idx, meta, &request.credentials);
        let ex = &mut self.exchanges[idx];
        if !ex.call_ids.iter().any(|c| c.as_bytes() == call_id) {
            ex.call_ids.push(lossy(call_id));
        }
        if ex.user_agent.is_none() {
            ex.user_agent = msg.header(HeaderKind::UserAgent).map(lossy);
        }
        ex.frames.push(meta.frame);
        ex.last_ts = ex.last_ts.max(meta.ts);
        ex.rounds.push(Round {
            request,
            provisional: None,
            response: None,
            answers,
        });
        let round = ex.rounds.len() - 1;
        self.tx.insert(
            txk,
            TxEntry {
                exchange: idx,
                round,
            },
        );
        self.awaiting.insert(ik, idx);
    }

    /// For each credentials header, the challenge it answers.
    fn resolve_answers(
        &self,
        idx: usize,
        meta: &MessageMeta,
        creds: &[SentCredentials],
    ) -> Vec<Option<AnsweredChallenge>> {
        let ex = &self.exchanges[idx];
        creds
            .iter()
            .map(|sc| {
                let nonce = sc.credentials.nonce.as_deref();
                // 1. By nonce, within this exchange's latest challenges first.
                for r in ex.rounds.iter().rev() {
                    if let Some(resp) = &r.response {
                        for ic in &resp.challenges {
                            if nonce.is_some() && ic.challenge.nonce.as_deref() == nonce {
                                return Some(AnsweredChallenge {
                                    header: ic.header,
                                    challenge: ic.challenge.clone(),
                                    frame: resp.frame,
                                    ts: resp.ts,
                                    same_hop: true,
                                    by_nonce: true,
                                });
                            }
                        }
                    }
                }
                // 2. By nonce, anywhere in the capture (preemptive
                // credentials reuse a nonce from an earlier exchange).
                if let Some(n) = nonce.and_then(|n| self.nonces.get(n)) {
                    return Some(AnsweredChallenge {
                        header: n.header,
                        challenge: n.challenge.clone(),
                        frame: n.frame,
                        ts: n.ts,
                        same_hop: n.client == meta.src && n.server == meta.dst,
                        by_nonce: true,
                    });
                }
                // 3. The exchange's latest challenge (nonce mismatch etc.).
                let resp = ex
                    .rounds
                    .iter()
                    .rev()
                    .find_map(|r| r.response.as_ref().filter(|resp| resp.is_challenge()))?;
                let ic = resp
                    .challenges
                    .iter()
                    .find(|c| c.header.answer() == sc.header && c.challenge.is_digest())
                    .or_else(|| resp.challenges.first())?;
                Some(AnsweredChallenge {
                    header: ic.header,
                    challenge: ic.challenge.clone(),
                    frame: resp.frame,
                    ts: resp.ts,
                    same_hop: true,
                    by_nonce: false,
                })
            })
            .collect()
    }

    fn response(&mut self, meta: &MessageMeta, msg: &Message<'_>) {
        self.stats.responses += 1;
        let (Some(status), Some(call_id), Some((cseq, cseq_method))) =
            (msg.status(), msg.call_id(), msg.cseq())
        else {
            self.stats.missing_headers += 1;
            return;
        };
        let branch = msg.via_branch().unwrap_or(b"");
        let txk = Self::tx_key(branch, cseq, cseq_method, call_id);
        let Some(t) = self.tx.get(&txk).copied() else {
            self.stats.orphan_responses += 1;
            return;
        };
        let is_last_round;
        {
            let ex = &mut self.exchanges[t.exchange];
            ex.frames.push(meta.frame);
            ex.last_ts = ex.last_ts.max(meta.ts);
            if ex.server_agent.is_none() {
                ex.server_agent = msg.header(HeaderKind::Server).map(lossy);
            }
            is_last_round = t.round + 1 == ex.rounds.len();
            let round = &mut ex.rounds[t.round];
            if status < 200 {
                if round.provisional.is_none() {
                    round.provisional = Some((meta.frame, status));
                }
                return;
            }
            if let Some(resp) = &mut round.response {
                resp.retransmissions += 1;
                resp.retransmission_frames.push(meta.frame);
                self.stats.retransmissions += 1;
                return;
            }
            let mut challenges = Vec::new();
            for (kind, header) in [
                (HeaderKind::WwwAuthenticate, AuthHeader::WwwAuthenticate),
                (HeaderKind::ProxyAuthenticate, AuthHeader::ProxyAuthenticate),
            ] {
                for v in msg.headers_of(kind) {
                    for c in Challenge::parse_all(v) {
                        challenges.push(IssuedChallenge {
                            header,
                            challenge: c,
                        });
                    }
                }
            }
            let reason = match msg.start {
                crate::sip::message::StartLine::Response { reason, .. } => lossy(trim(reason)),
                _ => String::new(),
            };
            round.response = Some(ResponseInfo {
                frame: meta.frame,
                ts: meta.ts,
                status,
                reason,
                challenges,
                warning: msg.header(HeaderKind::Warning).map(lossy),
                retransmissions: 0,
                retransmission_frames: Vec::new(),
            });
        }
        let ex = &self.exchanges[t.exchange];
        let round = &ex.rounds[t.round];
        let resp = round.response.as_ref().expect("set above");
        if resp.is_challenge() {
            let entries: Vec<(String, NonceEntry)> = resp
                .challenges
                .iter()
                .filter_map(|ic| {
                    let n = ic.challenge.nonce.clone()?;
                    Some((
                        n,
                        NonceEntry {
                            header: ic.header,
                            challenge: ic.challenge.clone(),
                            frame: resp.frame,
                            ts: resp.ts,
                            client: ex.client,
                            server: ex.server,
                            exchange: t.exchange,
                        },
                    ))
                })
                .collect();
            for (n, entry) in entries {
                self.remember_nonce(n, entry);
            }
        } else if is_last_round {
            self.close_final(t.exchange, status);
        }
    }

    /// Remembers who first sent a digest response; true when this
    /// request is not that first sender's hop (a relayed copy).
    fn first_sender(&mut self, response: &str, meta: &MessageMeta) -> bool {
        let key = hash_of(response);
        let hop = (meta.src, meta.dst);
        match self.responses.get(&key) {
            Some(first) => *first != hop,
            None => {
                if self.responses.len() >= self.config.max_nonces {
                    self.responses.clear();
                }
                self.responses.insert(key, hop);
                false
            }
        }
    }

    fn remember_nonce(&mut self, nonce: String, entry: NonceEntry) {
        if self.nonces.insert(nonce.clone(), entry).is_none() {
            self.nonce_order.push_back(nonce);
            while self.nonce_order.len() > self.config.max_nonces {
                if let Some(old) = self.nonce_order.pop_front() {
                    self.nonces.remove(&old);
                }
            }
        }
    }

    fn close_final(&mut self, i: usize, status: u16) {
        let ex = &mut self.exchanges[i];
        ex.final_status = Some(status);
        if (200..300).contains(&status) {
            ex.outcome = Outcome::Succeeded;
        } else {
            ex.outcome = Outcome::Failed;
            let reason = ex
                .rounds
                .last()
                .and_then(|r| r.response.as_ref())
                .map(|r| r.reason.clone())
                .unwrap_or_default();
            let with_creds = ex.rounds.last().is_some_and(Round::has_credentials);
            ex.failure = Some(match status {
                403 if with_creds => format!("credentials refused with 403 {reason}"),
                403 => format!("refused with 403 {reason}"),
                s if s < 400 => format!("redirected with {s} {reason}"),
                s => format!("{s} {reason}"),
            });
        }
        self.mark_closed(i);
    }

    fn mark_closed(&mut self, i: usize) {
        if !self.closed[i] {
            self.closed[i] = true;
            self.open_count -= 1;
        }
    }

    /// A client moved on (new attempt) while this exchange waited for a
    /// retry after a challenge.
    fn close_abandoned(&mut self, i: usize) {
        let ex = &mut self.exchanges[i];
        let Some(last) = ex.rounds.last() else { return };
        if last.challenged() {
            ex.outcome = Outcome::Failed;
            ex.final_status = last.status();
            ex.failure = Some(if last.has_credentials() {
                "credentials rejected; the client gave up and started over".into()
            } else {
                "challenge not answered; the client started over".into()
            });
        } else if last.response.is_none() {
            ex.outcome = Outcome::Unanswered;
            ex.failure = Some("no final response before the client started over".into());
        }
        self.mark_closed(i);
    }

    /// End of input: settle every open exchange and return them all,
    /// keeping only those that involve authentication (or REGISTER).
    pub fn finish(mut self) -> (Vec<AuthExchange>, CorrelateStats) {
        self.compact();
        for i in 0..self.exchanges.len() {
            self.settle(i);
        }
        let mut kept: Vec<AuthExchange> = self
            .exchanges
            .into_iter()
            .filter(AuthExchange::worth_reporting)
            .collect();
        for (n, e) in kept.iter_mut().enumerate() {
            e.id = n + 1;
        }
        (kept, self.stats)
    }

    /// Exchanges currently followed (waiting for a response or a retry).
    pub fn open_exchanges(&self) -> usize {
        self.open_count
    }

    /// Exchanges held in memory, open or finished.
    pub fn held_exchanges(&self) -> usize {
        self.exchanges.len() - self.dropped_count
    }

    /// Transactions indexed for matching responses and retransmissions.
    pub fn transactions(&self) -> usize {
        self.tx.len()
    }

    /// Nonces remembered for preemptive credentials.
    pub fn nonces(&self) -> usize {
        self.nonces.len()
    }

    /// Input warnings about correlation since the last call (evictions).
    pub fn take_warnings(&mut self) -> Vec<String> {
        let n = std::mem::take(&mut self.evictions_unreported);
        if n == 0 {
            return Vec::new();
        }
        vec![format!(
            "{n} exchanges were settled early because more than {} were open at once (a request flood?); those without authentication were dropped from the report",
            self.config.max_open_exchanges
        )]
    }

    /// Settles the oldest open exchange to make room for a new one.
    fn evict_oldest_open(&mut self) {
        while let Some(i) = self.open_order.pop_front() {
            if self.closed[i] {
                continue;
            }
            self.settle(i);
            if self.exchanges[i].outcome == Outcome::Incomplete {
                self.exchanges[i].failure = Some(format!(
                    "no longer followed: more than {} exchanges were open at once",
                    self.config.max_open_exchanges
                ));
            }
            self.mark_closed(i);
            self.stats.evicted_exchanges += 1;
            self.evictions_unreported += 1;
            // Unlike at the end of input, an unanswered REGISTER is dropped
            // too: scanners flood exactly those.
            let ex = &self.exchanges[i];
            if !(ex.was_challenged() || ex.sent_credentials()) {
                // Free its contents now; the slot goes at the next compaction.
                let ex = &mut self.exchanges[i];
                ex.rounds = Vec::new();
                ex.frames = Vec::new();
                ex.call_ids = Vec::new();
                ex.from_uri = String::new();
                ex.to_uri = String::new();
                ex.user_agent = None;
                self.dropped[i] = true;
                self.dropped_count += 1;
            }
            break;
        }
        if self.dropped_count >= self.config.max_open_exchanges.max(1024) {
            self.compact();
        }
    }

    /// Removes dropped exchanges and every index entry pointing at them,
    /// renumbering the rest.
    fn compact(&mut self) {
        if self.dropped_count == 0 {
            return;
        }
        let mut remap = vec![usize::MAX; self.exchanges.len()];
        let mut next = 0;
        for (i, slot) in remap.iter_mut().enumerate() {
            if !self.dropped[i] {
                *slot = next;
                next += 1;
            }
        }
        let mut i = 0;
        self.exchanges.retain(|_| {
            i += 1;
            remap[i - 1] != usize::MAX
        });
        let mut i = 0;
        self.closed.retain(|_| {
            i += 1;
            remap[i - 1] != usize::MAX
        });
        self.dropped = vec![false; self.exchanges.len()];
        self.dropped_count = 0;
        let keep = |ix: &mut usize| {
            *ix = remap[*ix];
            *ix != usize::MAX
        };
        self.open.retain(|_, ix| keep(ix));
        self.awaiting.retain(|_, ix| keep(ix));
        self.tx.retain(|_, t| keep(&mut t.exchange));
        self.open_order.retain_mut(|ix| keep(ix));
        let mut gone = Vec::new();
        for (nonce, entry) in self.nonces.iter_mut() {
            if !keep(&mut entry.exchange) {
                gone.push(nonce.clone());
            }
        }
        for nonce in &gone {
            self.nonces.remove(nonce);
        }
        if !gone.is_empty() {
            self.nonce_order.retain(|n| self.nonces.contains_key(n));
        }
        for (n, ex) in self.exchanges.iter_mut().enumerate() {
            ex.id = n;
        }
    }

    /// Decides the outcome of an exchange still open, as of the last
    /// message seen.
    fn settle(&mut self, i: usize) {
        let end = self.last_ts;
        let timeout = self.config.answer_timeout;
        {
            let ex = &mut self.exchanges[i];
            ex.observed_after = end.since(ex.last_ts).max(0.0);
            if self.closed[i] {
                return;
            }
            let Some(last) = ex.rounds.last() else {
                return;
            };
            let waited = ex.observed_after;
            if let Some(resp) = &last.response {
                if resp.is_challenge() {
                    if waited >= timeout {
                        ex.outcome = Outcome::Failed;
                        ex.final_status = Some(resp.status);
                        ex.failure = Some(if last.has_credentials() {
                            "credentials rejected; the client did not try again".into()
                        } else {
                            "challenge never answered".into()
                        });
                    } else {
                        ex.outcome = Outcome::Incomplete;
                        ex.failure = Some(format!(
                            "the capture ends {waited:.1} s after the challenge"
                        ));
                    }
                }
            } else if waited >= timeout {
                ex.outcome = Outcome::Unanswered;
                ex.failure = Some(format!("no final response within {waited:.0} s"));
            } else {
                ex.outcome = Outcome::Incomplete;
                ex.failure = Some(format!(
                    "the capture ends {waited:.1} s after the request, before any final response"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Framing, Status};

    fn feed(c: &mut Correlator, frame: u64, secs: i64, text: &str) {
        let meta = MessageMeta {
            input: 0,
            frame,
            ts: Ts::from_secs_nanos(secs, 0),
            src: Some("10.0.0.5:5060".parse().unwrap()),
            dst: Some("10.0.0.1:5060".parse().unwrap()),
            transport: Transport::Udp,
        };
        let Ok(Status::Complete(m)) = Message::parse(text.as_bytes(), Framing::Datagram) else {
            panic!("test message does not parse")
        };
        c.message(&meta, &m);
    }

    fn options(n: u32) -> String {
        format!("OPTIONS sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK{n}\r\nFrom: <sip:{n}@lab>;tag={n}\r\nTo: <sip:pbx@lab>\r\nCall-ID: {n}\r\nCSeq: 1 OPTIONS\r\n\r\n")
    }

    /// Regression: every exchange used to stay open (and indexed) forever,
    /// so unanswered requests grew memory without bound.
    #[test]
    fn open_exchanges_are_capped_and_evicted_oldest_first() {
        let mut c = Correlator::new(CorrelateConfig {
            max_open_exchanges: 3,
            ..CorrelateConfig::default()
        });
        for n in 1..=10 {
            feed(&mut c, u64::from(n), 100, &options(n));
            assert!(c.open_exchanges() <= 3);
        }
        assert_eq!(c.open_exchanges(), 3);
        assert_eq!(c.held_exchanges(), 3);
        assert_eq!(c.stats.evicted_exchanges, 7);
        let w = c.take_warnings();
        assert!(w[0].starts_with("7 exchanges were settled early"), "{w:?}");
        assert!(c.take_warnings().is_empty(), "reported once");
        // The newest is still followed: its challenge lands on it.
        let challenge = "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK10\r\nFrom: <sip:10@lab>;tag=10\r\nTo: <sip:pbx@lab>;tag=x\r\nCall-ID: 10\r\nCSeq: 1 OPTIONS\r\nWWW-Authenticate: Digest realm=\"lab\", nonce=\"n\"\r\n\r\n";
        feed(&mut c, 11, 101, challenge);
        let (ex, stats) = c.finish();
        assert_eq!(stats.orphan_responses, 0);
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].call_ids, ["10"]);
    }
}
