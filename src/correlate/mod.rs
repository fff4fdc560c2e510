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
//!
//! Memory is bounded by the message rate, not the capture length: finished
//! exchanges flow out of the live state (to [`Correlator::drain_finished`],
//! or kept for [`Correlator::finish`]), their map keys go with them, nonces
//! expire by capture time, and a request that is not about authentication
//! keeps only its bytes, in a recycled buffer, until its answer shows
//! whether it is challenged (docs/performance.md).

use crate::capture::{Transport, Ts};
use crate::sip::message::{trim, NameAddr, UriParts};
use crate::sip::{
    AuthHeader, Challenge, Credentials, Framing, HeaderKind, Message, Shared, Status,
};
use crate::sip::{Text, WideText};
use rustc_hash::{FxHashMap, FxHasher};
use serde::Serialize;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

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
    /// Shared with the answers to it and the nonce table, not copied.
    pub challenge: Shared<Challenge>,
}

/// The challenge a set of credentials answers, found by nonce (or, failing
/// that, the latest challenge of the exchange).
#[derive(Clone, Debug, Serialize)]
pub struct AnsweredChallenge {
    pub header: AuthHeader,
    pub challenge: Shared<Challenge>,
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
    pub branch: Text,
    pub request_uri: Text,
    pub call_id: WideText,
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
    pub reason: Text,
    /// Nearly always one: inline, no allocation per 401/407.
    pub challenges: SmallVec<[IssuedChallenge; 1]>,
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
    /// One per credentials header: nearly always one, inline.
    pub answers: SmallVec<[Option<AnsweredChallenge>; 1]>,
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
    pub method: Text,
    /// Nearly always one: inline.
    pub call_ids: SmallVec<[WideText; 1]>,
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    pub transport: Transport,
    pub from_uri: Text,
    pub to_uri: Text,
    pub from_tag: Text,
    pub user_agent: Option<WideText>,
    pub server_agent: Option<WideText>,
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
    let mut buf = [0u8; 21];
    match a {
        Some(SocketAddr::V4(v4)) => endpoint_v4(v4, &mut buf).to_string(),
        Some(a) => a.to_string(),
        None => "?".into(),
    }
}

/// [`endpoint`], inline (an IPv4 address and port always fits).
pub fn endpoint_text(a: Option<SocketAddr>) -> Text {
    let mut buf = [0u8; 21];
    match a {
        Some(SocketAddr::V4(v4)) => Text::new(endpoint_v4(v4, &mut buf)),
        Some(a) => compact_str::format_compact!("{a}"),
        None => Text::const_new("?"),
    }
}

/// `a.b.c.d:port` written digit by digit into `buf` (the formatting
/// machinery of `Display` costs more than the rest of a report line).
pub fn endpoint_v4(a: std::net::SocketAddrV4, buf: &mut [u8; 21]) -> &str {
    let n = endpoint_v4_bytes(a, buf);
    // Only ASCII digits, dots and a colon were written.
    std::str::from_utf8(&buf[..n]).unwrap_or("?")
}

/// [`endpoint_v4`] as bytes: how many of `buf` it wrote (only digits,
/// dots and a colon; for writers that need no `str`).
pub fn endpoint_v4_bytes(a: std::net::SocketAddrV4, buf: &mut [u8; 21]) -> usize {
    /// Each octet's digits, left-aligned, and how many there are.
    const OCTETS: [([u8; 3], u8); 256] = {
        let mut t = [([0u8; 3], 0u8); 256];
        let mut n = 0;
        while n < 256 {
            let (h, d, u) = ((n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8);
            t[n] = if n >= 100 {
                ([b'0' + h, b'0' + d, b'0' + u], 3)
            } else if n >= 10 {
                ([b'0' + d, b'0' + u, 0], 2)
            } else {
                ([b'0' + u, 0, 0], 1)
            };
            n += 1;
        }
        t
    };
    let mut at = 0;
    for (i, octet) in a.ip().octets().into_iter().enumerate() {
        if i > 0 {
            buf[at] = b'.';
            at += 1;
        }
        // Three bytes copied whatever the length (the last octet's end
        // at byte 15 at most).
        let (digits, len) = OCTETS[usize::from(octet)];
        buf[at..at + 3].copy_from_slice(&digits);
        at += usize::from(len);
    }
    buf[at] = b':';
    at += 1;
    let mut port = [0u8; 5];
    let mut n = 0;
    let mut v = a.port();
    loop {
        port[4 - n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf[at..at + n].copy_from_slice(&port[5 - n..]);
    at + n
}

fn lossy(b: &[u8]) -> String {
    crate::sip::digest::lossy_text(b).into_owned()
}

/// [`lossy`] for a value that is usually 25-38 bytes (a Call-ID), inline.
fn wide(b: &[u8]) -> WideText {
    match crate::sip::digest::ascii_text(b) {
        Some(s) => WideText::new(s),
        None => WideText::from(crate::sip::digest::lossy_text(b)),
    }
}

/// [`lossy`], inline when short.
fn text(b: &[u8]) -> Text {
    match crate::sip::digest::ascii_text(b) {
        Some(s) => Text::new(s),
        None => Text::new(crate::sip::digest::lossy_text(b)),
    }
}

impl AuthExchange {
    /// The user part of the From URI: the account placing the request.
    pub fn user(&self) -> Option<String> {
        self.user_ref().map(Cow::into_owned)
    }
    /// [`AuthExchange::user`] borrowed from the exchange (nearly always:
    /// copied only when it is not valid UTF-8).
    pub fn user_ref(&self) -> Option<Cow<'_, str>> {
        UriParts::user_of(self.from_uri.as_bytes()).map(crate::sip::digest::lossy_text)
    }
    pub fn to_user(&self) -> Option<String> {
        self.to_user_ref().map(Cow::into_owned)
    }
    /// [`AuthExchange::to_user`], borrowed.
    pub fn to_user_ref(&self) -> Option<Cow<'_, str>> {
        UriParts::user_of(self.to_uri.as_bytes()).map(crate::sip::digest::lossy_text)
    }
    pub fn from_host(&self) -> String {
        lossy(UriParts::parse(self.from_uri.as_bytes()).host)
    }
    pub fn to_host(&self) -> String {
        lossy(UriParts::parse(self.to_uri.as_bytes()).host)
    }
    /// The digest username of the last credentials sent.
    pub fn auth_user(&self) -> Option<String> {
        self.auth_user_ref().map(str::to_string)
    }
    /// [`AuthExchange::auth_user`], borrowed.
    pub fn auth_user_ref(&self) -> Option<&str> {
        self.all_credentials()
            .last()
            .and_then(|(_, c)| c.credentials.username.as_deref())
    }
    /// The realm the server challenged with (else the one the client used).
    pub fn realm(&self) -> Option<String> {
        self.realm_ref().map(str::to_string)
    }
    /// [`AuthExchange::realm`], borrowed.
    pub fn realm_ref(&self) -> Option<&str> {
        self.all_challenges()
            .find_map(|(_, c)| c.challenge.realm.as_deref())
            .or_else(|| {
                self.all_credentials()
                    .find_map(|(_, c)| c.credentials.realm.as_deref())
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
    /// Nonces (and first senders of digest responses) remembered for
    /// answering preemptive credentials; the oldest are forgotten first.
    pub max_nonces: usize,
    /// Seconds of capture time a nonce is remembered after its challenge
    /// (servers expire theirs after 30 s to 5 min).
    pub nonce_ttl: f64,
    /// Exchanges followed at once. Beyond it the oldest is settled early
    /// (as the end of the capture would settle it) and, if it never
    /// involved a challenge or credentials, dropped: a flood of requests
    /// with distinct Call-IDs cannot grow the state without bound.
    pub max_open_exchanges: usize,
    /// Rounds (request and its answer) followed in one exchange. A client
    /// retrying without end on one Call-ID (a password-guessing tool) would
    /// otherwise grow one exchange with every guess; past it the exchange
    /// is finished and the next request starts a new one.
    pub max_rounds: usize,
    /// Retransmission frames listed per request; more are counted.
    pub max_listed_retransmissions: usize,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        CorrelateConfig {
            answer_timeout: 32.0,
            max_nonces: 200_000,
            nonce_ttl: 300.0,
            max_open_exchanges: 20_000,
            max_rounds: 500,
            max_listed_retransmissions: 64,
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
    challenge: Shared<Challenge>,
    frame: u64,
    ts: Ts,
    client: Option<SocketAddr>,
    server: Option<SocketAddr>,
    exchange: usize,
}

/// One User-Agent seen from one source address, over every request of the
/// capture (challenged or not), so probes that never reach authentication
/// (e.g. an OPTIONS scan) are still visible to the rules.
#[derive(Clone, Debug, Serialize)]
pub struct AgentSighting {
    pub input: u16,
    pub source: Option<IpAddr>,
    /// At most [`MAX_AGENT_LEN`] bytes of the header value.
    pub user_agent: String,
    pub first_frame: u64,
    pub first_ts: Ts,
    pub last_ts: Ts,
    pub requests: u64,
    /// Distinct methods, at most [`MAX_AGENT_METHODS`].
    pub methods: Vec<String>,
}

/// Distinct (source, User-Agent) pairs remembered; more are only counted.
pub const MAX_AGENTS: usize = 4096;
/// Longest User-Agent value kept.
pub const MAX_AGENT_LEN: usize = 256;
/// Methods listed per sighting.
pub const MAX_AGENT_METHODS: usize = 8;

/// Counters of what could not be correlated.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CorrelateStats {
    pub requests: u64,
    pub responses: u64,
    pub retransmissions: u64,
    pub orphan_responses: u64,
    pub missing_headers: u64,
    /// (source, User-Agent) pairs beyond MAX_AGENTS, not summarised.
    pub agents_not_kept: u64,
    /// Exchanges settled early because too many were open at once.
    pub evicted_exchanges: u64,
    /// Exchanges finished at `max_rounds`, continued by a new exchange.
    pub split_exchanges: u64,
}

/// How much state the correlator holds right now (for tests and
/// benchmarks: it must not grow with the length of the capture).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveCounts {
    pub exchanges: usize,
    pub transactions: usize,
    pub held_requests: usize,
    pub nonces: usize,
    pub response_hops: usize,
    /// Transactions remembered after their exchange flowed out.
    pub gone_transactions: usize,
    /// Finished exchanges waiting to be taken (or returned by `finish`).
    pub finished: usize,
}

/// A map that forgets by capture time: entries live in the current
/// generation, lookups also see the previous one, and every `ttl` seconds
/// (or when the current one is full) the previous generation is dropped.
struct Generations<V> {
    current: FxHashMap<u64, V>,
    previous: FxHashMap<u64, V>,
    started: Ts,
}

impl<V> Generations<V> {
    fn new() -> Self {
        Generations {
            current: FxHashMap::default(),
            previous: FxHashMap::default(),
            started: Ts(i64::MIN),
        }
    }
    fn get(&self, k: u64) -> Option<&V> {
        self.current.get(&k).or_else(|| self.previous.get(&k))
    }
    /// Inserts or replaces (the latest value wins, like a plain map).
    fn insert(&mut self, k: u64, v: V, now: Ts, ttl: f64, max: usize) {
        if self.started == Ts(i64::MIN) {
            self.started = now;
        }
        if now.since(self.started) >= ttl || self.current.len() >= max.div_ceil(2).max(1) {
            // Swap and clear rather than drop and regrow: the tables keep
            // their capacity, so rotating allocates nothing.
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.clear();
            self.started = now;
        }
        self.previous.remove(&k);
        self.current.insert(k, v);
    }
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// Provisional responses listed in one exchange's frames; more are not
/// (real exchanges have a few per round).
const MAX_LISTED_PROVISIONALS: usize = 1024;

/// Fewest messages between two sweeps of the live state.
const MIN_SWEEP_INTERVAL: usize = 4096;

/// An exchange still being followed.
struct Live {
    ex: AuthExchange,
    closed: bool,
    /// Provisional responses listed in `ex.frames` so far.
    provisionals_listed: usize,
    /// Map keys that lead to this exchange, dropped when it flows out.
    tx_keys: Keys,
    open_keys: Keys,
    awaiting_keys: Keys,
}

/// Map keys of one exchange, in the order added: most exchanges have one
/// or two of each kind, kept inline instead of in three small vectors.
#[derive(Default)]
struct Keys {
    inline: [u64; 2],
    len: usize,
    more: Vec<u64>,
}

impl Keys {
    fn push(&mut self, k: u64) {
        if self.len < self.inline.len() {
            self.inline[self.len] = k;
            self.len += 1;
        } else {
            self.more.push(k);
        }
    }
    fn iter(&self) -> impl Iterator<Item = &u64> {
        self.inline[..self.len].iter().chain(&self.more)
    }
}

/// A request that is not (yet) about authentication: no credentials, not
/// a REGISTER, not continuing an exchange. Only its bytes are kept (in a
/// recycled buffer) until its answer says whether it is challenged; most
/// are not, and then no exchange is ever built for them.
struct Held {
    meta: MessageMeta,
    ek: u64,
    /// The exchange id reserved when it arrived, so that a materialised
    /// exchange keeps its place in creation order.
    id: usize,
    raw: Vec<u8>,
    cseq: u32,
    content: u64,
    last_ts: Ts,
    retransmissions: u32,
    retransmission_frames: Vec<u64>,
    provisional: Option<(u64, u16)>,
    /// A final answer came (and was not a challenge); the entry stays to
    /// recognise retransmissions until it expires.
    answered: bool,
}

pub struct Correlator {
    config: CorrelateConfig,
    /// Exchanges being followed, by internal id (creation order).
    live: FxHashMap<usize, Live>,
    next_id: usize,
    /// Finished exchanges that involve authentication, in the order they
    /// finished, until taken.
    finished: Vec<AuthExchange>,
    /// Exchanges already handed out by `take_finished`.
    handed_out: usize,
    /// Open exchanges by (Call-ID, From tag, method, client, server).
    open: FxHashMap<u64, usize>,
    /// Exchanges waiting for a retry, by (client, From URI, To URI, method).
    awaiting: FxHashMap<u64, usize>,
    tx: FxHashMap<u64, TxEntry>,
    held: FxHashMap<u64, Held>,
    /// The latest held request of each exchange key, so that a request
    /// continuing it (a retry after a challenge the capture missed) finds
    /// it as the old model found its exchange.
    held_by_ek: FxHashMap<u64, u64>,
    spare_buffers: Vec<Vec<u8>>,
    /// By hash of the nonce (the entry's own nonce is compared on lookup).
    /// Boxed: the tables hold minutes of nonces in two generations, and
    /// an entry is a hundred bytes.
    nonces: Generations<Box<NonceEntry>>,
    /// Hash of the first (client, server) hop of each digest response
    /// value (only compared for equality).
    responses: Generations<u64>,
    /// Transactions of exchanges that flowed out, with the content id of
    /// their request, to recognise late retransmissions.
    gone: Generations<u64>,
    pub stats: CorrelateStats,
    last_ts: Ts,
    messages_since_sweep: usize,
    next_sweep: usize,
    /// Set while a held request is materialised: the id it reserved.
    reserved_id: Option<usize>,
    agents: Vec<AgentSighting>,
    agent_index: FxHashMap<u64, usize>,
    /// Ids of live exchanges in creation order (ids that already flowed
    /// out are skipped when met), for evicting the oldest.
    order: std::collections::VecDeque<usize>,
    /// Evictions not yet reported by `take_warnings`.
    evicted_unreported: u64,
    /// Splits at `max_rounds` not yet reported by `take_warnings`.
    split_unreported: u64,
}

fn hash_of<T: Hash>(t: T) -> u64 {
    let mut h = FxHasher::default();
    t.hash(&mut h);
    h.finish()
}

fn write_bytes(h: &mut FxHasher, b: &[u8]) {
    h.write_usize(b.len());
    h.write(b);
}

/// A method, case-folded without allocating.
fn write_method(h: &mut FxHasher, m: &[u8]) {
    h.write_usize(m.len());
    for &c in m {
        h.write_u8(c.to_ascii_uppercase());
    }
}

/// Request methods that never get their own authentication exchange.
fn not_challengeable(method: &[u8]) -> bool {
    method.eq_ignore_ascii_case(b"ACK") || method.eq_ignore_ascii_case(b"CANCEL")
}

fn is_credentials(kind: HeaderKind) -> bool {
    matches!(
        kind,
        HeaderKind::Authorization | HeaderKind::ProxyAuthorization
    )
}

/// What makes a request with the same transaction key a retransmission
/// rather than a new request: same length and same credentials. Cheaper
/// than hashing the whole message, and a client that reuses a branch for
/// a different request changes at least one of them in practice.
fn content_id(msg: &Message<'_>) -> u64 {
    let mut h = FxHasher::default();
    h.write_usize(msg.raw.len());
    for hd in msg.headers() {
        if is_credentials(hd.kind) {
            write_bytes(&mut h, hd.value);
        }
    }
    h.finish()
}

fn involves_auth(e: &AuthExchange) -> bool {
    e.was_challenged() || e.sent_credentials() || e.method.eq_ignore_ascii_case("REGISTER")
}

/// Settles an exchange still open when its client stopped (or the capture
/// ended) `waited` seconds after its last message.
fn settle_open(ex: &mut AuthExchange, waited: f64, timeout: f64) {
    let Some(last) = ex.rounds.last() else {
        return;
    };
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

impl Correlator {
    pub fn new(config: CorrelateConfig) -> Correlator {
        Correlator {
            config,
            live: FxHashMap::default(),
            next_id: 0,
            finished: Vec::new(),
            handed_out: 0,
            open: FxHashMap::default(),
            awaiting: FxHashMap::default(),
            tx: FxHashMap::default(),
            held: FxHashMap::default(),
            held_by_ek: FxHashMap::default(),
            spare_buffers: Vec::new(),
            nonces: Generations::new(),
            responses: Generations::new(),
            gone: Generations::new(),
            stats: CorrelateStats::default(),
            last_ts: Ts(i64::MIN),
            messages_since_sweep: 0,
            next_sweep: MIN_SWEEP_INTERVAL,
            reserved_id: None,
            agents: Vec::new(),
            agent_index: FxHashMap::default(),
            order: std::collections::VecDeque::new(),
            evicted_unreported: 0,
            split_unreported: 0,
        }
    }

    pub fn message(&mut self, meta: &MessageMeta, msg: &Message<'_>) {
        if meta.ts > self.last_ts {
            self.last_ts = meta.ts;
        }
        if msg.is_request() {
            self.stats.requests += 1;
            self.note_agent(meta, msg);
            self.request(meta, msg, true);
            self.evict_over_cap();
        } else {
            self.response(meta, msg);
        }
        self.messages_since_sweep += 1;
        // Amortised: a sweep costs O(live state) and the next one waits for
        // as many messages as the state it left.
        if self.messages_since_sweep >= self.next_sweep {
            self.sweep();
        }
    }

    /// What the correlator holds right now.
    pub fn live_counts(&self) -> LiveCounts {
        LiveCounts {
            exchanges: self.live.len(),
            transactions: self.tx.len(),
            held_requests: self.held.len(),
            nonces: self.nonces.len(),
            response_hops: self.responses.len(),
            gone_transactions: self.gone.len(),
            finished: self.finished.len(),
        }
    }

    /// Exchanges that finished since the last call (closed and quiet for
    /// the answer timeout, or open and idle for twice that), numbered in
    /// the order they are handed out. Taking them keeps memory bounded on long captures; whatever is
    /// not taken is returned by [`Correlator::finish`].
    pub fn take_finished(&mut self) -> Vec<AuthExchange> {
        self.drain_finished().collect()
    }

    /// Like [`Correlator::take_finished`], but keeps the queue's buffer
    /// for the next ones (no large allocation per hand-over).
    pub fn drain_finished(&mut self) -> std::vec::Drain<'_, AuthExchange> {
        self.number_finished();
        self.finished.drain(..)
    }

    /// Like [`Correlator::take_finished`], but the exchanges stay in the
    /// queue's buffer, which is swapped with `batch` (emptied first; its
    /// buffer takes the next ones): a batch goes to another thread without
    /// its exchanges being moved one by one. False, and nothing swapped,
    /// when none finished.
    pub fn swap_finished(&mut self, batch: &mut Vec<AuthExchange>) -> bool {
        if self.finished.is_empty() {
            return false;
        }
        self.number_finished();
        batch.clear();
        std::mem::swap(&mut self.finished, batch);
        true
    }

    fn number_finished(&mut self) {
        for e in &mut self.finished {
            self.handed_out += 1;
            e.id = self.handed_out;
        }
    }

    fn tx_key(branch: &[u8], cseq: u32, method: &[u8], call_id: &[u8]) -> u64 {
        let mut h = FxHasher::default();
        write_bytes(&mut h, branch);
        h.write_u32(cseq);
        write_method(&mut h, method);
        write_bytes(&mut h, call_id);
        h.finish()
    }

    fn exchange_key(
        call_id: &[u8],
        from_tag: &[u8],
        method: &[u8],
        src: Option<SocketAddr>,
        dst: Option<SocketAddr>,
    ) -> u64 {
        let mut h = FxHasher::default();
        write_bytes(&mut h, call_id);
        write_bytes(&mut h, from_tag);
        write_method(&mut h, method);
        src.hash(&mut h);
        dst.hash(&mut h);
        h.finish()
    }

    fn identity_key(src: Option<SocketAddr>, from_uri: &[u8], to_uri: &[u8], method: &[u8]) -> u64 {
        let mut h = FxHasher::default();
        src.hash(&mut h);
        write_bytes(&mut h, from_uri);
        write_bytes(&mut h, to_uri);
        write_method(&mut h, method);
        h.finish()
    }

    /// Every (source, User-Agent) seen so far, in order of first sighting.
    pub fn take_agents(&mut self) -> Vec<AgentSighting> {
        self.agent_index.clear();
        std::mem::take(&mut self.agents)
    }

    fn note_agent(&mut self, meta: &MessageMeta, msg: &Message<'_>) {
        let Some(ua) = msg.header(HeaderKind::UserAgent) else {
            return;
        };
        let ua = &ua[..ua.len().min(MAX_AGENT_LEN)];
        let source = meta.src.map(|a| a.ip());
        let key = {
            let mut h = FxHasher::default();
            (meta.input, source, ua).hash(&mut h);
            h.finish()
        };
        let method = msg.method().unwrap_or(b"");
        let i = match self.agent_index.get(&key) {
            Some(&i) => i,
            None => {
                if self.agents.len() >= MAX_AGENTS {
                    self.stats.agents_not_kept += 1;
                    return;
                }
                self.agents.push(AgentSighting {
                    input: meta.input,
                    source,
                    user_agent: lossy(ua),
                    first_frame: meta.frame,
                    first_ts: meta.ts,
                    last_ts: meta.ts,
                    requests: 0,
                    methods: Vec::new(),
                });
                self.agent_index.insert(key, self.agents.len() - 1);
                self.agents.len() - 1
            }
        };
        let a = &mut self.agents[i];
        a.requests += 1;
        a.last_ts = a.last_ts.max(meta.ts);
        if a.methods.len() < MAX_AGENT_METHODS && !a.methods.iter().any(|m| m.as_bytes() == method)
        {
            a.methods.push(lossy(method));
        }
    }

    fn is_open(&self, i: usize) -> bool {
        self.live.get(&i).is_some_and(|l| !l.closed)
    }

    /// Open and its last request was challenged: it waits for a retry.
    /// (Parallel requests still waiting for their response, e.g.
    /// SUBSCRIBEs for several event packages, do not.)
    fn waits_for_retry(&self, i: usize) -> bool {
        self.live
            .get(&i)
            .is_some_and(|l| !l.closed && l.ex.rounds.last().is_some_and(Round::challenged))
    }

    fn request(&mut self, meta: &MessageMeta, msg: &Message<'_>, may_hold: bool) {
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
        let content_hash = content_id(msg);
        let txk = Self::tx_key(branch, cseq, method, call_id);
        if let Some(t) = self.tx.get(&txk).copied() {
            if let Some(l) = self.live.get_mut(&t.exchange) {
                let ex = &mut l.ex;
                let req = &mut ex.rounds[t.round].request;
                if req.content_hash == content_hash || branch.is_empty() && req.cseq == cseq {
                    req.retransmissions = req.retransmissions.saturating_add(1);
                    // A flood of copies is counted, not listed.
                    if req.retransmission_frames.len() < self.config.max_listed_retransmissions {
                        req.retransmission_frames.push(meta.frame);
                        ex.frames.push(meta.frame);
                    }
                    ex.last_ts = ex.last_ts.max(meta.ts);
                    self.stats.retransmissions += 1;
                    return;
                }
            }
        }
        if self.gone.get(txk) == Some(&content_hash) {
            self.stats.retransmissions += 1;
            return;
        }
        if let Some(h) = self.held.get_mut(&txk) {
            if h.content == content_hash || branch.is_empty() && h.cseq == cseq {
                h.retransmissions = h.retransmissions.saturating_add(1);
                if h.retransmission_frames.len() < self.config.max_listed_retransmissions {
                    h.retransmission_frames.push(meta.frame);
                }
                h.last_ts = h.last_ts.max(meta.ts);
                self.stats.retransmissions += 1;
                return;
            }
        }
        let from = NameAddr::parse(from);
        let to_uri = NameAddr::uri_of(to);
        let from_tag = from.tag.unwrap_or(b"");
        let ek = Self::exchange_key(call_id, from_tag, method, meta.src, meta.dst);
        let ik = Self::identity_key(meta.src, from.uri, to_uri, method);
        let mut continues = self.open.get(&ek).is_some_and(|&i| self.is_open(i));
        if !continues {
            // An unanswered held request of the same exchange: this one
            // continues it, so it becomes an exchange after all.
            let earlier = self.held_by_ek.get(&ek).copied().filter(|&k| {
                k != txk && self.held.get(&k).is_some_and(|h| !h.answered && h.ek == ek)
            });
            if let Some(k) = earlier {
                let held = self.held.remove(&k).expect("checked");
                self.held_by_ek.remove(&ek);
                self.materialise(k, held);
                continues = self.open.get(&ek).is_some_and(|&i| self.is_open(i));
            }
        }
        if may_hold
            && !continues
            && !method.eq_ignore_ascii_case(b"REGISTER")
            && !msg.headers().iter().any(|h| is_credentials(h.kind))
        {
            // A fresh attempt from the same client abandons an earlier
            // exchange still waiting for a retry.
            if let Some(&old) = self.awaiting.get(&ik) {
                if self.waits_for_retry(old) {
                    self.close_abandoned(old);
                }
            }
            let mut raw = self.spare_buffers.pop().unwrap_or_default();
            raw.clear();
            raw.extend_from_slice(msg.raw);
            if let Some(old) = self.held.insert(
                txk,
                Held {
                    meta: *meta,
                    ek,
                    id: {
                        self.next_id += 1;
                        self.next_id - 1
                    },
                    raw,
                    cseq,
                    content: content_hash,
                    last_ts: meta.ts,
                    retransmissions: 0,
                    retransmission_frames: Vec::new(),
                    provisional: None,
                    answered: false,
                },
            ) {
                self.recycle(old.raw);
            }
            self.held_by_ek.insert(ek, txk);
            return;
        }

        // Exact capacities: these elements are hundreds of bytes, and the
        // default first capacity of 4 would make every exchange allocate
        // in glibc's large bins (and consolidate them) for one element.
        let n_creds = msg
            .headers()
            .iter()
            .filter(|h| is_credentials(h.kind))
            .count();
        let mut sent = Vec::with_capacity(n_creds);
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
        let wants_body = credentials.iter().any(|c| {
            c.credentials
                .qop
                .as_deref()
                .is_some_and(|q| q.eq_ignore_ascii_case("auth-int"))
        });
        let request = RequestInfo {
            frame: meta.frame,
            ts: meta.ts,
            cseq,
            branch: text(branch),
            request_uri: text(msg.request_uri().unwrap_or(b"")),
            call_id: wide(call_id),
            credentials,
            retransmissions: 0,
            retransmission_frames: Vec::new(),
            body: wants_body.then(|| msg.body.to_vec()),
            content_hash,
        };

        // Which exchange does this request continue?
        let mut target = self.open.get(&ek).copied().filter(|&i| self.is_open(i));
        if target.is_none() {
            // Credentials answering a challenge of an exchange that still
            // waits for its retry, whatever the Call-ID and however late.
            for sc in &request.credentials {
                let Some(n) = sc.credentials.nonce.as_deref().and_then(|n| self.nonce(n)) else {
                    continue;
                };
                let i = n.exchange;
                let Some(l) = self.live.get(&i) else { continue };
                if !l.closed
                    && n.client == meta.src
                    && n.server == meta.dst
                    && l.ex.method.as_bytes().eq_ignore_ascii_case(method)
                    && l.ex.rounds.last().is_some_and(Round::challenged)
                {
                    target = Some(i);
                    break;
                }
            }
        }
        if target.is_none() && !request.credentials.is_empty() {
            // A client that starts a new Call-ID to answer a challenge.
            if let Some(&i) = self.awaiting.get(&ik) {
                if let Some(l) = self.live.get(&i) {
                    let fresh = meta.ts.since(l.ex.last_ts) <= self.config.answer_timeout;
                    let challenged = l.ex.rounds.last().is_some_and(Round::challenged);
                    if !l.closed && fresh && challenged {
                        target = Some(i);
                    }
                }
            }
        }
        if target.is_none() {
            // A fresh attempt from the same client abandons an earlier
            // exchange still waiting for a retry.
            if let Some(&old) = self.awaiting.get(&ik) {
                if self.waits_for_retry(old) {
                    self.close_abandoned(old);
                }
            }
        }
        if let Some(i) = target {
            let full = self.live.get(&i).map_or(0, |l| l.ex.rounds.len());
            if full >= self.config.max_rounds.max(1) {
                self.split_full(i);
                target = None;
            }
        }
        let idx = match target {
            Some(i) => i,
            None => {
                let id = self.reserved_id.take().unwrap_or_else(|| {
                    self.next_id += 1;
                    self.next_id - 1
                });
                let user_agent = msg.header(HeaderKind::UserAgent).map(wide);
                self.order.push_back(id);
                self.live.insert(
                    id,
                    Live {
                        ex: AuthExchange {
                            id,
                            input: meta.input,
                            method: text(method),
                            call_ids: SmallVec::new(),
                            client: meta.src,
                            server: meta.dst,
                            transport: meta.transport,
                            from_uri: text(from.uri),
                            to_uri: text(to_uri),
                            from_tag: text(from_tag),
                            user_agent,
                            server_agent: None,
                            rounds: Vec::with_capacity(2),
                            outcome: Outcome::Incomplete,
                            final_status: None,
                            failure: None,
                            first_ts: meta.ts,
                            last_ts: meta.ts,
                            // A request and its answer for each of the
                            // usual two to four rounds: one allocation.
                            frames: Vec::with_capacity(8),
                            observed_after: 0.0,
                        },
                        closed: false,
                        provisionals_listed: 0,
                        tx_keys: Keys::default(),
                        open_keys: Keys::default(),
                        awaiting_keys: Keys::default(),
                    },
                );
                id
            }
        };
        let answers = self.resolve_answers(idx, meta, &request.credentials);
        if self.open.insert(ek, idx) != Some(idx) {
            self.live_mut(idx).open_keys.push(ek);
        }
        if self.awaiting.insert(ik, idx) != Some(idx) {
            self.live_mut(idx).awaiting_keys.push(ik);
        }
        let l = self.live_mut(idx);
        let ex = &mut l.ex;
        if !ex.call_ids.iter().any(|c| c.as_bytes() == call_id) {
            ex.call_ids.push(wide(call_id));
        }
        if ex.user_agent.is_none() {
            ex.user_agent = msg.header(HeaderKind::UserAgent).map(wide);
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
        l.tx_keys.push(txk);
        self.tx.insert(
            txk,
            TxEntry {
                exchange: idx,
                round,
            },
        );
    }

    fn live_mut(&mut self, i: usize) -> &mut Live {
        self.live.get_mut(&i).expect("live exchange")
    }

    fn nonce(&self, nonce: &str) -> Option<&NonceEntry> {
        self.nonces
            .get(hash_of(nonce))
            .map(|n| &**n)
            .filter(|n| n.challenge.nonce.as_deref() == Some(nonce))
    }

    /// For each credentials header, the challenge it answers.
    fn resolve_answers(
        &self,
        idx: usize,
        meta: &MessageMeta,
        creds: &[SentCredentials],
    ) -> SmallVec<[Option<AnsweredChallenge>; 1]> {
        let ex = &self.live[&idx].ex;
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
                if let Some(n) = nonce.and_then(|n| self.nonce(n)) {
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

    fn recycle(&mut self, buf: Vec<u8>) {
        // Keep a few buffers; a burst of held requests does not pin memory.
        if self.spare_buffers.len() < 256 && buf.capacity() <= 16 * 1024 {
            self.spare_buffers.push(buf);
        }
    }

    /// A held request was challenged: build its exchange after all, from
    /// its own bytes, as if it had been kept from the start.
    fn materialise(&mut self, txk: u64, held: Held) {
        if let Ok(Status::Complete(msg)) = Message::parse(&held.raw, Framing::Datagram) {
            self.reserved_id = Some(held.id);
            self.request(&held.meta, &msg, false);
            self.reserved_id = None;
        }
        if let Some(t) = self.tx.get(&txk).copied() {
            if let Some(l) = self.live.get_mut(&t.exchange) {
                let ex = &mut l.ex;
                let round = &mut ex.rounds[t.round];
                round.provisional = held.provisional;
                round.request.retransmissions = held.retransmissions;
                ex.frames.extend_from_slice(&held.retransmission_frames);
                round.request.retransmission_frames = held.retransmission_frames;
                ex.last_ts = ex.last_ts.max(held.last_ts);
            }
        }
        self.recycle(held.raw);
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
        if !self.tx.contains_key(&txk) {
            let Some(h) = self.held.get_mut(&txk) else {
                if self.gone.get(txk).is_some() {
                    // Its exchange already flowed out: a late retransmission.
                    self.stats.retransmissions += 1;
                } else {
                    self.stats.orphan_responses += 1;
                }
                return;
            };
            h.last_ts = h.last_ts.max(meta.ts);
            if status < 200 {
                h.provisional.get_or_insert((meta.frame, status));
                return;
            }
            if h.answered {
                self.stats.retransmissions += 1;
                return;
            }
            if status != 401 && status != 407 {
                // Answered without a challenge: never about authentication.
                h.answered = true;
                let raw = std::mem::take(&mut h.raw);
                self.recycle(raw);
                return;
            }
            let held = self.held.remove(&txk).expect("present");
            if self.held_by_ek.get(&held.ek) == Some(&txk) {
                self.held_by_ek.remove(&held.ek);
            }
            self.materialise(txk, held);
        }
        let Some(t) = self.tx.get(&txk).copied() else {
            self.stats.orphan_responses += 1;
            return;
        };
        let Some(l) = self.live.get_mut(&t.exchange) else {
            // Its exchange already flowed out: a late retransmission.
            self.stats.retransmissions += 1;
            return;
        };
        let ex = &mut l.ex;
        ex.last_ts = ex.last_ts.max(meta.ts);
        if ex.server_agent.is_none() {
            ex.server_agent = msg.header(HeaderKind::Server).map(wide);
        }
        let is_last_round = t.round + 1 == ex.rounds.len();
        let round = &mut ex.rounds[t.round];
        if status < 200 {
            if round.provisional.is_none() {
                round.provisional = Some((meta.frame, status));
            }
            // A flood of provisional responses is not listed either.
            if l.provisionals_listed < MAX_LISTED_PROVISIONALS {
                l.provisionals_listed += 1;
                ex.frames.push(meta.frame);
            }
            return;
        }
        if let Some(resp) = &mut round.response {
            resp.retransmissions = resp.retransmissions.saturating_add(1);
            if resp.retransmission_frames.len() < self.config.max_listed_retransmissions {
                resp.retransmission_frames.push(meta.frame);
                ex.frames.push(meta.frame);
            }
            self.stats.retransmissions += 1;
            return;
        }
        ex.frames.push(meta.frame);
        let mut challenges = SmallVec::with_capacity(
            msg.headers()
                .iter()
                .filter(|h| {
                    matches!(
                        h.kind,
                        HeaderKind::WwwAuthenticate | HeaderKind::ProxyAuthenticate
                    )
                })
                .count(),
        );
        for (kind, header) in [
            (HeaderKind::WwwAuthenticate, AuthHeader::WwwAuthenticate),
            (HeaderKind::ProxyAuthenticate, AuthHeader::ProxyAuthenticate),
        ] {
            for v in msg.headers_of(kind) {
                Challenge::parse_each(v, |c| {
                    challenges.push(IssuedChallenge {
                        header,
                        challenge: Shared::new(c),
                    })
                });
            }
        }
        let reason = match msg.start {
            crate::sip::message::StartLine::Response { reason, .. } => text(trim(reason)),
            _ => Text::default(),
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
        let resp = round.response.as_ref().expect("set above");
        if resp.is_challenge() {
            let (client, server) = (ex.client, ex.server);
            let (frame, ts) = (resp.frame, resp.ts);
            for k in 0..resp.challenges.len() {
                let Some(ic) = self.live[&t.exchange].ex.rounds[t.round]
                    .response
                    .as_ref()
                    .and_then(|r| r.challenges.get(k))
                    .filter(|ic| ic.challenge.nonce.is_some())
                else {
                    continue;
                };
                let entry = NonceEntry {
                    header: ic.header,
                    challenge: ic.challenge.clone(),
                    frame,
                    ts,
                    client,
                    server,
                    exchange: t.exchange,
                };
                self.remember_nonce(entry);
            }
        } else if is_last_round {
            self.close_final(t.exchange, status);
        }
    }

    /// Remembers who first sent a digest response; true when this
    /// request is not that first sender's hop (a relayed copy).
    fn first_sender(&mut self, response: &str, meta: &MessageMeta) -> bool {
        let key = hash_of(response);
        let hop = hash_of((meta.src, meta.dst));
        match self.responses.get(key) {
            Some(first) => *first != hop,
            None => {
                let (ttl, max) = (self.config.nonce_ttl, self.config.max_nonces);
                self.responses.insert(key, hop, self.last_ts, ttl, max);
                false
            }
        }
    }

    fn remember_nonce(&mut self, entry: NonceEntry) {
        let Some(n) = entry.challenge.nonce.as_deref() else {
            return;
        };
        let key = hash_of(n);
        let (ttl, max) = (self.config.nonce_ttl, self.config.max_nonces);
        self.nonces
            .insert(key, Box::new(entry), self.last_ts, ttl, max);
    }

    fn close_final(&mut self, i: usize, status: u16) {
        let Some(l) = self.live.get_mut(&i) else {
            return;
        };
        let ex = &mut l.ex;
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
        l.closed = true;
    }

    /// A client moved on (new attempt) while this exchange waited for a
    /// retry after a challenge.
    fn close_abandoned(&mut self, i: usize) {
        let Some(l) = self.live.get_mut(&i) else {
            return;
        };
        let ex = &mut l.ex;
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
        l.closed = true;
    }

    /// Lets exchanges flow out of the live state once nothing more can
    /// belong to them: closed ones after the answer timeout (the longest a
    /// retransmission comes late, RFC 3261 Timer J), open ones after twice
    /// that. Forgets held requests as old.
    fn sweep(&mut self) {
        self.messages_since_sweep = 0;
        let now = self.last_ts;
        let timeout = self.config.answer_timeout;
        let idle = 2.0 * timeout;
        let mut out: Vec<usize> = self
            .live
            .iter()
            .filter(|(_, l)| now.since(l.ex.last_ts) > if l.closed { timeout } else { idle })
            .map(|(&i, _)| i)
            .collect();
        out.sort_unstable();
        for i in out {
            let Some(mut l) = self.live.remove(&i) else {
                continue;
            };
            let waited = now.since(l.ex.last_ts).max(0.0);
            if !l.closed {
                settle_open(&mut l.ex, waited, timeout);
            }
            l.ex.observed_after = waited;
            self.forget_keys(i, &l);
            if involves_auth(&l.ex) {
                self.finished.push(l.ex);
            }
        }
        let mut freed = Vec::new();
        let by_ek = &mut self.held_by_ek;
        self.held.retain(|k, h| {
            let keep = now.since(h.last_ts) <= idle;
            if !keep {
                freed.push(std::mem::take(&mut h.raw));
                if by_ek.get(&h.ek) == Some(k) {
                    by_ek.remove(&h.ek);
                }
            }
            keep
        });
        for b in freed {
            self.recycle(b);
        }
        self.next_sweep = MIN_SWEEP_INTERVAL.max(self.live.len() + self.held.len());
    }

    /// Finishes an exchange that reached `max_rounds` while its client goes
    /// on: it flows out as it stands, and the request that would have
    /// been its next round starts a new exchange (which finds the
    /// challenge it answers by its nonce, like preemptive credentials).
    fn split_full(&mut self, i: usize) {
        let Some(mut l) = self.live.remove(&i) else {
            return;
        };
        let ex = &mut l.ex;
        if let Some(last) = ex.rounds.last() {
            ex.final_status = last.status();
            ex.outcome = if last.challenged() {
                Outcome::Failed
            } else {
                ex.outcome
            };
        }
        ex.failure = Some(format!(
            "still retrying after {} rounds; the following rounds are reported as the next exchange",
            ex.rounds.len()
        ));
        self.forget_keys(i, &l);
        self.stats.split_exchanges += 1;
        self.split_unreported += 1;
        if l.ex.was_challenged() || l.ex.sent_credentials() {
            self.finished.push(l.ex);
        }
    }

    /// Settles the oldest open exchanges while more than
    /// `max_open_exchanges` are followed.
    fn evict_over_cap(&mut self) {
        let cap = self.config.max_open_exchanges.max(1);
        while self.live.len() > cap {
            let Some(i) = self.order.pop_front() else {
                break;
            };
            let Some(mut l) = self.live.remove(&i) else {
                continue;
            };
            let waited = self.last_ts.since(l.ex.last_ts).max(0.0);
            if !l.closed {
                settle_open(&mut l.ex, waited, self.config.answer_timeout);
            }
            l.ex.observed_after = waited;
            self.forget_keys(i, &l);
            self.stats.evicted_exchanges += 1;
            self.evicted_unreported += 1;
            if l.ex.was_challenged() || l.ex.sent_credentials() {
                self.finished.push(l.ex);
            }
        }
        // Ids of exchanges that flowed out by time stay in `order` until
        // met; keep it from growing past the live state.
        if self.order.len() > 2 * cap + MIN_SWEEP_INTERVAL {
            let live = &self.live;
            self.order.retain(|i| live.contains_key(i));
        }
    }

    /// Warnings about what the correlator had to give up (once each).
    pub fn take_warnings(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if self.evicted_unreported > 0 {
            out.push(format!(
                "{} exchanges were settled early because more than {} were open at once (a flood of requests?); those that never involved authentication are not reported",
                self.evicted_unreported, self.config.max_open_exchanges
            ));
            self.evicted_unreported = 0;
        }
        if self.split_unreported > 0 {
            out.push(format!(
                "{} exchanges were cut after {} rounds each (a client retrying without end on one Call-ID, e.g. a password-guessing tool); each went on as a new exchange",
                self.split_unreported, self.config.max_rounds
            ));
            self.split_unreported = 0;
        }
        out
    }

    /// Exchanges followed right now.
    pub fn open_exchanges(&self) -> usize {
        self.live.len()
    }

    /// Requests held (not yet known to be about authentication).
    pub fn held_exchanges(&self) -> usize {
        self.held.len()
    }

    /// Transactions indexed right now.
    pub fn transactions(&self) -> usize {
        self.tx.len()
    }

    /// Nonces remembered right now.
    pub fn nonces(&self) -> usize {
        self.live_counts().nonces
    }

    fn forget_keys(&mut self, i: usize, l: &Live) {
        let (now, ttl) = (self.last_ts, self.config.answer_timeout.max(1.0));
        for k in l.tx_keys.iter() {
            if let Some(t) = self.tx.get(k).copied().filter(|t| t.exchange == i) {
                self.tx.remove(k);
                let content = l.ex.rounds[t.round].request.content_hash;
                self.gone.insert(*k, content, now, ttl, usize::MAX);
            }
        }
        for k in l.open_keys.iter() {
            if self.open.get(k) == Some(&i) {
                self.open.remove(k);
            }
        }
        for k in l.awaiting_keys.iter() {
            if self.awaiting.get(k) == Some(&i) {
                self.awaiting.remove(k);
            }
        }
    }

    /// End of input: settle every open exchange and return the ones not
    /// yet taken, keeping only those that involve authentication (or
    /// REGISTER), in the order they started.
    pub fn finish(mut self) -> (Vec<AuthExchange>, CorrelateStats) {
        let end = self.last_ts;
        let timeout = self.config.answer_timeout;
        let mut kept = std::mem::take(&mut self.finished);
        for (_, mut l) in self.live.drain() {
            if !l.closed {
                let waited = end.since(l.ex.last_ts).max(0.0);
                settle_open(&mut l.ex, waited, timeout);
            }
            if involves_auth(&l.ex) {
                kept.push(l.ex);
            }
        }
        // Internal ids are in creation order.
        kept.sort_unstable_by_key(|e| e.id);
        for (n, e) in kept.iter_mut().enumerate() {
            e.observed_after = end.since(e.last_ts).max(0.0);
            e.id = self.handed_out + n + 1;
        }
        (kept, self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_print_as_display_does() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut cases: Vec<SocketAddr> = vec![
            "0.0.0.0:0".parse().unwrap(),
            "255.255.255.255:65535".parse().unwrap(),
            "10.0.0.1:5060".parse().unwrap(),
            "[2001:db8::1]:5061".parse().unwrap(),
        ];
        for o in 0..=255u8 {
            let ip = std::net::Ipv4Addr::new(o, 255 - o, o, 9);
            for port in [
                u16::from(o),
                u16::from(o) * 257,
                9,
                10,
                99,
                100,
                9999,
                10000,
            ] {
                cases.push(SocketAddr::from((ip, port)));
            }
        }
        for _ in 0..2000 {
            let r = next();
            let ip = std::net::Ipv4Addr::from((r >> 16) as u32);
            cases.push(SocketAddr::from((ip, r as u16)));
        }
        for a in cases {
            assert_eq!(endpoint(Some(a)), a.to_string());
            assert_eq!(endpoint_text(Some(a)), a.to_string());
            if let SocketAddr::V4(v4) = a {
                let mut buf = [0u8; 21];
                let n = endpoint_v4_bytes(v4, &mut buf);
                assert_eq!(&buf[..n], a.to_string().as_bytes());
            }
        }
        assert_eq!(endpoint(None), "?");
        assert_eq!(endpoint_text(None), "?");
    }
    use crate::sip::{Framing, Message, Status};

    fn feed(c: &mut Correlator, t: f64, src: &str, text: &str) {
        let meta = MessageMeta {
            input: 0,
            frame: (t * 1000.0) as u64,
            ts: Ts((t * 1e9) as i64),
            src: src.parse().ok(),
            dst: "10.0.0.1:5060".parse().ok(),
            transport: Transport::Udp,
        };
        match Message::parse(text.as_bytes(), Framing::Datagram) {
            Ok(Status::Complete(m)) => c.message(&meta, &m),
            other => panic!("does not parse: {other:?}"),
        }
    }

    fn request(method: &str, n: u64, creds: bool) -> String {
        let auth = if creds {
            format!("Authorization: Digest username=\"u{n}\", realm=\"r\", nonce=\"n{n}\", uri=\"sip:r\", response=\"{n:032x}\"\r\n")
        } else {
            String::new()
        };
        format!(
            "{method} sip:r SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.0.1;branch=z9hG4bK{n}\r\nFrom: <sip:u{n}@r>;tag=f{n}\r\nTo: <sip:u{n}@r>\r\nCall-ID: c{n}\r\nCSeq: 1 {method}\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    }

    /// Batches swapped out of the queue are numbered as drained ones are,
    /// on from the ones taken before; the buffer given in takes the next
    /// exchanges, and what it held is dropped, not handed out.
    #[test]
    fn swapped_batches_are_numbered_like_drained_ones() {
        let mut drained = Correlator::new(CorrelateConfig::default());
        let mut swapped = Correlator::new(CorrelateConfig::default());
        let (mut by_drain, mut by_swap) = (Vec::new(), Vec::new());
        let mut batch = Vec::new();
        let (mut swaps, mut junk_dropped) = (0, false);
        for n in 0..30_000u64 {
            // REGISTERs (kept: they involve authentication) at 100/s that
            // are never answered: they flow out after the idle limit.
            let t = n as f64 * 0.01;
            let src = format!("10.9.{}.{}:5060", (n >> 8) & 255, n & 255);
            let text = request("REGISTER", n, n % 2 == 0);
            feed(&mut drained, t, &src, &text);
            feed(&mut swapped, t, &src, &text);
            if n % 1000 == 999 {
                by_drain.extend(drained.drain_finished().map(|e| (e.id, e.first_ts)));
                if n == 19_999 {
                    // Someone else's exchange in the buffer given in.
                    batch = junk_batch();
                }
                let had_junk = batch.iter().any(|e| e.id == usize::MAX);
                if swapped.swap_finished(&mut batch) {
                    swaps += 1;
                    junk_dropped |= had_junk;
                    by_swap.extend(batch.iter().map(|e| (e.id, e.first_ts)));
                } else {
                    // Nothing finished: the buffer is left as it was.
                    assert_eq!(batch.iter().any(|e| e.id == usize::MAX), had_junk);
                }
            }
        }
        assert!(swaps >= 3, "{swaps}");
        assert!(junk_dropped);
        assert!(by_drain.len() > 10_000, "{}", by_drain.len());
        assert_eq!(by_swap, by_drain);
        let ids: Vec<usize> = by_swap.iter().map(|&(id, _)| id).collect();
        assert_eq!(ids, (1..=ids.len()).collect::<Vec<_>>());
        // Nothing finished since the last swap: nothing is swapped.
        let mut none = Vec::new();
        assert!(!swapped.swap_finished(&mut none));
        assert!(none.is_empty());
    }

    /// A batch holding exchanges that are not the correlator's: another
    /// correlator's, renumbered.
    fn junk_batch() -> Vec<AuthExchange> {
        let mut other = Correlator::new(CorrelateConfig::default());
        feed(
            &mut other,
            0.0,
            "10.8.0.1:5060",
            &request("REGISTER", 1, false),
        );
        let (mut junk, _) = other.finish();
        assert_eq!(junk.len(), 1);
        junk[0].id = usize::MAX;
        junk
    }

    /// A flood of requests with distinct Call-IDs that are never answered
    /// (a scanner, a dead server): the state must stay bounded by what
    /// arrives within the time windows, not by the length of the capture.
    #[test]
    fn state_stays_bounded_under_a_flood_without_answers() {
        let mut c = Correlator::new(CorrelateConfig::default());
        let total = 200_000u64;
        let mut flowed_out = 0usize;
        let mut peak = LiveCounts::default();
        for n in 0..total {
            // 100 requests per second for 2000 s of capture time.
            let t = n as f64 * 0.01;
            let text = match n % 3 {
                0 => request("INVITE", n, false),
                1 => request("REGISTER", n, false),
                _ => request("REGISTER", n, true),
            };
            feed(
                &mut c,
                t,
                &format!("10.9.{}.{}:5060", (n >> 8) & 255, n & 255),
                &text,
            );
            flowed_out += c.take_finished().len();
            let l = c.live_counts();
            peak.exchanges = peak.exchanges.max(l.exchanges);
            peak.transactions = peak.transactions.max(l.transactions);
            peak.held_requests = peak.held_requests.max(l.held_requests);
            peak.nonces = peak.nonces.max(l.nonces);
            peak.response_hops = peak.response_hops.max(l.response_hops);
            peak.finished = peak.finished.max(l.finished);
            peak.gone_transactions = peak.gone_transactions.max(l.gone_transactions);
        }
        // 64 s idle limit at 100/s, plus as many again until the next sweep.
        let bound = 2 * 6_400 + 100;
        assert!(peak.exchanges <= bound, "{peak:?}");
        assert!(peak.transactions <= bound, "{peak:?}");
        assert!(peak.held_requests <= bound, "{peak:?}");
        // Response hops: one generation of 300 s plus the previous one.
        assert!(peak.response_hops <= 2 * 300 * 34 + 100, "{peak:?}");
        assert_eq!(peak.nonces, 0, "nothing was challenged");
        assert!(peak.finished <= bound, "{peak:?}");
        // Two generations of 32 s at 67 exchanges per second.
        assert!(peak.gone_transactions <= 2 * 32 * 67 + bound, "{peak:?}");
        // Every REGISTER flowed out as an unanswered exchange; the held
        // INVITEs were never about authentication and left no exchange.
        let (rest, stats) = c.finish();
        assert_eq!(flowed_out + rest.len(), (2 * total / 3) as usize);
        assert!(flowed_out > rest.len());
        assert!(rest.iter().all(|e| e.method == "REGISTER"));
        assert_eq!(stats.requests, total);
    }

    #[test]
    fn held_request_becomes_an_exchange_when_challenged() {
        let mut c = Correlator::new(CorrelateConfig::default());
        let inv = request("INVITE", 7, false);
        feed(&mut c, 0.0, "10.9.0.7:5060", &inv);
        // A retransmission while held.
        feed(&mut c, 0.5, "10.9.0.7:5060", &inv);
        assert_eq!(c.live_counts().held_requests, 1);
        assert_eq!(c.live_counts().exchanges, 0);
        let resp = "SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP 10.9.0.1;branch=z9hG4bK7\r\nFrom: <sip:u7@r>;tag=f7\r\nTo: <sip:u7@r>;tag=x\r\nCall-ID: c7\r\nCSeq: 1 INVITE\r\nProxy-Authenticate: Digest realm=\"r\", nonce=\"abc\"\r\nContent-Length: 0\r\n\r\n";
        feed(&mut c, 0.6, "10.0.0.1:5060", resp);
        assert_eq!(c.live_counts().held_requests, 0);
        let (ex, stats) = c.finish();
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].rounds[0].request.retransmissions, 1);
        assert_eq!(
            ex[0].rounds[0].response.as_ref().map(|r| r.status),
            Some(407)
        );
        assert_eq!(ex[0].frames, vec![0, 500, 600]);
        assert_eq!(stats.retransmissions, 1);
    }

    /// The challenge was not captured: the retry with credentials still
    /// continues the first request's exchange, as a second round.
    #[test]
    fn retry_continues_an_unanswered_held_request() {
        let mut c = Correlator::new(CorrelateConfig::default());
        feed(&mut c, 0.0, "10.9.0.7:5060", &request("INVITE", 7, false));
        let retry = request("INVITE", 7, true)
            .replace("branch=z9hG4bK7", "branch=z9hG4bK8")
            .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
        feed(&mut c, 0.1, "10.9.0.7:5060", &retry);
        assert_eq!(c.live_counts().held_requests, 0);
        let (ex, _) = c.finish();
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].rounds.len(), 2);
        assert!(ex[0].rounds[0].response.is_none());
        assert!(ex[0].rounds[1].has_credentials());
        assert_eq!(ex[0].frames, vec![0, 100]);
    }

    #[test]
    fn unchallenged_request_leaves_no_exchange_and_its_retransmissions_count() {
        let mut c = Correlator::new(CorrelateConfig::default());
        let opt = request("OPTIONS", 3, false);
        feed(&mut c, 0.0, "10.9.0.3:5060", &opt);
        let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.9.0.1;branch=z9hG4bK3\r\nFrom: <sip:u3@r>;tag=f3\r\nTo: <sip:u3@r>;tag=x\r\nCall-ID: c3\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        feed(&mut c, 0.1, "10.0.0.1:5060", ok);
        feed(&mut c, 0.2, "10.0.0.1:5060", ok);
        let (ex, stats) = c.finish();
        assert!(ex.is_empty());
        assert_eq!(stats.retransmissions, 1);
        assert_eq!(stats.orphan_responses, 0);
    }

    mod from_main {
        use super::*;
        use crate::rules::testutil::*;
        use crate::sip::{Framing, Status};

        #[test]
        fn retransmissions_are_counted_not_doubled() {
            let msgs = [
                register(1, "a", None),
                response(401, "Unauthorized", 1, "a", Some(WWW_QOP)),
                register(2, "b", Some(&auth_qop("alice"))),
                response(200, "OK", 2, "b", None),
            ];
            let exs = exchanges(&[
                (PHONE, PBX, 0.0, &msgs[0]),
                (PHONE, PBX, 0.5, &msgs[0]),
                (PBX, PHONE, 0.6, &msgs[1]),
                (PBX, PHONE, 0.7, &msgs[1]),
                (PHONE, PBX, 0.8, &msgs[2]),
                (PBX, PHONE, 0.9, &msgs[3]),
            ]);
            assert_eq!(exs.len(), 1);
            let ex = &exs[0];
            assert_eq!(ex.rounds.len(), 2);
            assert_eq!(ex.rounds[0].request.retransmissions, 1);
            assert_eq!(ex.rounds[0].request.retransmission_frames, vec![2]);
            assert_eq!(ex.rounds[0].response.as_ref().unwrap().retransmissions, 1);
            assert_eq!(ex.outcome, Outcome::Succeeded);
            assert_eq!(ex.frames, vec![1, 2, 3, 4, 5, 6]);
        }

        #[test]
        fn retry_with_a_new_call_id_joins_the_exchange() {
            let retry = register(2, "b", Some(&auth_qop("alice"))).replace("cid-1", "cid-2");
            let ok = response(200, "OK", 2, "b", None).replace("cid-1", "cid-2");
            let msgs = [
                register(1, "a", None),
                response(401, "Unauthorized", 1, "a", Some(WWW_QOP)),
            ];
            let exs = exchanges(&[
                (PHONE, PBX, 0.0, &msgs[0]),
                (PBX, PHONE, 0.1, &msgs[1]),
                (PHONE, PBX, 0.2, &retry),
                (PBX, PHONE, 0.3, &ok),
            ]);
            assert_eq!(exs.len(), 1);
            assert_eq!(exs[0].call_ids.len(), 2);
            assert_eq!(exs[0].outcome, Outcome::Succeeded);
            // The credentials are linked to the first Call-ID's challenge.
            let ans = exs[0].rounds[1].answers[0].as_ref().unwrap();
            assert!(ans.by_nonce);
            assert_eq!(ans.frame, 2);
        }

        #[test]
        fn a_new_attempt_closes_the_abandoned_one() {
            let first = [
                register(1, "a", None),
                response(401, "Unauthorized", 1, "a", Some(WWW_QOP)),
            ];
            let again = register(1, "c", None).replace("cid-1", "cid-9");
            let exs = exchanges(&[
                (PHONE, PBX, 0.0, &first[0]),
                (PBX, PHONE, 0.1, &first[1]),
                (PHONE, PBX, 5.0, &again),
            ]);
            assert_eq!(exs.len(), 2);
            assert_eq!(exs[0].outcome, Outcome::Failed);
            assert!(exs[0].failure.as_deref().unwrap().contains("started over"));
            assert_eq!(exs[1].outcome, Outcome::Incomplete);
        }

        #[test]
        fn parallel_requests_are_not_abandoned() {
            // Two requests of the same client and method in parallel (new
            // Call-IDs), each answered later: both keep their answers.
            let a = register(1, "a", None);
            let b = register(1, "b", None).replace("cid-1", "cid-2");
            let ra = response(200, "OK", 1, "a", None);
            let rb = response(200, "OK", 1, "b", None).replace("cid-1", "cid-2");
            let exs = exchanges(&[
                (PHONE, PBX, 0.0, &a),
                (PHONE, PBX, 0.1, &b),
                (PBX, PHONE, 0.2, &ra),
                (PBX, PHONE, 0.3, &rb),
            ]);
            assert_eq!(exs.len(), 2);
            assert!(exs.iter().all(|e| e.outcome == Outcome::Succeeded));
        }

        #[test]
        fn reversed_roles_the_challenger_is_the_server() {
            // A provisioning server (PBX) sends NOTIFY check-sync to a phone,
            // which challenges it.
            let notify = |cseq: u32, branch: &str, auth: &str| {
                format!(
                    "NOTIFY sip:phone@10.0.0.5 SIP/2.0\n\
    Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{branch}\n\
    From: <sip:pbx@10.0.0.1>;tag=p1\n\
    To: <sip:phone@10.0.0.5>\n\
    Call-ID: cs-1\n\
    CSeq: {cseq} NOTIFY\n\
    Event: check-sync\n\
    {auth}Content-Length: 0\n\n"
                )
            };
            let resp = |status: u16, cseq: u32, branch: &str, extra: &str| {
                format!(
                    "SIP/2.0 {status} X\n\
    Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{branch}\n\
    From: <sip:pbx@10.0.0.1>;tag=p1\n\
    To: <sip:phone@10.0.0.5>;tag=ph\n\
    Call-ID: cs-1\n\
    CSeq: {cseq} NOTIFY\n\
    {extra}Content-Length: 0\n\n"
                )
            };
            let ch = "WWW-Authenticate: Digest realm=\"phone.lab\", nonce=\"pn\"\n";
            let auth = "Authorization: Digest username=\"phonecfg\", realm=\"phone.lab\", nonce=\"pn\", uri=\"sip:phone@10.0.0.5\", response=\"00112233445566778899aabbccddeeff\"\n";
            let exs = exchanges(&[
                (PBX, PHONE, 0.0, &notify(1, "n1", "")),
                (PHONE, PBX, 0.1, &resp(401, 1, "n1", ch)),
                (PBX, PHONE, 0.2, &notify(2, "n2", auth)),
                (PHONE, PBX, 0.3, &resp(200, 2, "n2", "")),
            ]);
            assert_eq!(exs.len(), 1);
            let ex = &exs[0];
            assert_eq!(ex.method, "NOTIFY");
            assert_eq!(ex.client, PBX.parse().ok());
            assert_eq!(ex.server, PHONE.parse().ok());
            assert_eq!(ex.outcome, Outcome::Succeeded);
            assert_eq!(ex.auth_user().as_deref(), Some("phonecfg"));
            assert_eq!(ex.realm().as_deref(), Some("phone.lab"));
        }

        #[test]
        fn relayed_credentials_are_marked() {
            // The same credentials seen on the client's hop and on the proxy's
            // next hop: only the first is the client's own.
            let proxy = "10.0.0.2:5060";
            let auth = auth_qop("alice");
            let hop1 = register(2, "b", Some(&auth));
            let hop2 = register(2, "p", Some(&auth));
            let exs = exchanges(&[(PHONE, proxy, 0.0, &hop1), (proxy, PBX, 0.01, &hop2)]);
            assert_eq!(exs.len(), 2);
            assert!(!exs[0].rounds[0].request.credentials[0].relayed);
            assert!(exs[1].rounds[0].request.credentials[0].relayed);
        }

        fn options(ua: &str, frame: u64) -> (MessageMeta, String) {
            let meta = MessageMeta {
                input: 0,
                frame,
                ts: Ts(frame as i64),
                src: "10.9.9.9:5060".parse().ok(),
                dst: "10.0.0.1:5060".parse().ok(),
                transport: Transport::Udp,
            };
            let text = format!(
                "OPTIONS sip:100@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK{frame}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:100@10.0.0.1>\r\nCall-ID: c{frame}\r\nCSeq: 1 OPTIONS\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n"
            );
            (meta, text)
        }

        #[test]
        fn user_agents_are_summarised_per_source_and_bounded() {
            let mut c = Correlator::new(CorrelateConfig::default());
            let n = MAX_AGENTS as u64 + 3;
            for i in 0..n {
                // Two requests with each User-Agent.
                for k in 0..2 {
                    let (meta, text) = options(&format!("probe-{i}"), 2 * i + k + 1);
                    match Message::parse(text.as_bytes(), Framing::Datagram) {
                        Ok(Status::Complete(m)) => c.message(&meta, &m),
                        other => panic!("{other:?}"),
                    }
                }
            }
            let agents = c.take_agents();
            assert_eq!(agents.len(), MAX_AGENTS);
            assert_eq!(c.stats.agents_not_kept, 6);
            assert_eq!(agents[0].requests, 2);
            assert_eq!(agents[0].methods, vec!["OPTIONS".to_string()]);
            assert_eq!(agents[0].first_frame, 1);
            let (exchanges, _) = c.finish();
            assert!(
                exchanges.is_empty(),
                "unchallenged OPTIONS are not exchanges"
            );
        }
    }
}
