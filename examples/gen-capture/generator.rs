//! Realistic SIP capture generator: many accounts registering and calling
//! through two servers, misconfigured phones, an attack burst, media noise,
//! written as an Ethernet/IPv4/UDP pcap, with the exact findings a correct
//! diagnosis must produce ("truth").
//!
//! Everything is derived from one seed, so a capture can be regenerated
//! byte for byte. Memory stays bounded: packets wait in a small time-ordered
//! queue only until the scenarios that interleave with them are written.
//!
//! Shared by the `gen-capture` example and `tests/generated.rs`.

use md5::{Digest, Md5};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::Ipv4Addr;

/// 2026-01-01 09:00:00 UTC, the capture's first second.
const START_NS: i64 = 1_767_258_000 * 1_000_000_000;
const MS: i64 = 1_000_000;

/// SplitMix64: small, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let _ = write!(s, "{:016x}", self.next_u64());
        }
        s.truncate(n);
        s
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Stop starting new scenarios once this many bytes are written.
    pub target_bytes: u64,
    pub seed: u64,
    /// Accounts (phones); each comes back only every few minutes of
    /// capture time, so no legitimate source looks like an attack.
    pub accounts: usize,
    /// RTP packets per direction of each call (noise around the SIP).
    pub rtp_per_call: u32,
    /// Passwords the dictionary attacker tries on one account.
    pub dictionary_words: usize,
    /// Usernames the enumerating attacker tries.
    pub enumerated_users: usize,
    /// Percentage of the qop accounts that register over TCP (one
    /// connection per phone, kept across registrations; one SIP message
    /// per segment). 0 keeps the capture UDP-only and byte-identical to
    /// what earlier versions wrote for the same seed.
    pub tcp_percent: u8,
}

impl Config {
    /// Sensible defaults for a capture of about `mb` megabytes.
    pub fn for_size_mb(mb: u64, seed: u64) -> Config {
        Config {
            target_bytes: mb.max(1) * 1_000_000,
            seed,
            accounts: (mb.saturating_mul(60)).clamp(100, 50_000) as usize,
            rtp_per_call: 25,
            dictionary_words: 60,
            enumerated_users: 80,
            tcp_percent: 0,
        }
    }
}

/// What the capture contains and what a correct diagnosis finds in it.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    pub seed: u64,
    pub bytes: u64,
    pub packets: u64,
    pub sip_messages: u64,
    /// One per credentials message whose response does not match the known
    /// password (the phone with a typo; the dictionary attack).
    pub wrong_password: u64,
    /// One per credentials message whose response matches the known
    /// password (REGISTER with and without qop, INVITE after 407).
    pub digest_verified: u64,
    /// One per answer to a qop challenge that lacks cnonce/nc/qop.
    pub missing_cnonce: u64,
    /// One per attacking source.
    pub brute_force: u64,
    pub attackers: Vec<String>,
    /// `user@realm:password` of every account whose password is known.
    pub credentials: Vec<String>,
    pub scenarios: BTreeMap<&'static str, u64>,
}

impl Truth {
    pub fn to_json(&self, credentials_file: &str) -> serde_json::Value {
        serde_json::json!({
            "generator": "gen-capture",
            "seed": self.seed,
            "bytes": self.bytes,
            "packets": self.packets,
            "sip_messages": self.sip_messages,
            "credentials_file": credentials_file,
            "credentials": self.credentials.len(),
            "attackers": self.attackers,
            "expected_findings": {
                "wrong-password": self.wrong_password,
                "digest-verified": self.digest_verified,
                "missing-cnonce": self.missing_cnonce,
                "brute-force": self.brute_force,
            },
            "counting": {
                "wrong-password": "one per credentials message (not retransmission) whose response does not match the listed password of its user@realm",
                "digest-verified": "one per credentials message (not retransmission) whose response matches the listed password",
                "missing-cnonce": "one per answer to a qop challenge without cnonce/nc/qop; those accounts are not in the credentials file",
                "brute-force": "one per attacking source (the attackers list); no legitimate source fails more than 3 times per 300 s",
            },
            "scenarios": self.scenarios,
        })
    }

    /// The sibling credentials file: `user@realm:password` per line.
    pub fn credentials_text(&self) -> String {
        let mut s = String::from("# user@realm:password of every account with a known password\n");
        for c in &self.credentials {
            s.push_str(c);
            s.push('\n');
        }
        s
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Server A (qop=auth), password known: REGISTER, sometimes INVITE.
    GoodQop,
    /// Server B (no qop), password known.
    GoodNoQop,
    /// Server A, password not in the credentials file.
    Unlisted,
    /// Server A, the phone has a typo in its password.
    WrongPassword,
    /// Server A, an old stack that ignores qop (RFC 2069 answer).
    MissingCnonce,
}

struct Account {
    user: String,
    /// What the server has.
    password: String,
    /// What the phone sends (differs for WrongPassword).
    phone_password: String,
    kind: Kind,
    phone: Endpoint,
    ua: &'static str,
    server: usize,
    cseq: u32,
    tcp: bool,
    /// Next sequence numbers (phone, server) of its TCP connection.
    conn: Option<(u32, u32)>,
}

struct Server {
    ep: Endpoint,
    realm: &'static str,
    qop: bool,
    opaque: bool,
    agent: &'static str,
}

const PHONE_AGENTS: &[&str] = &[
    "Yealink SIP-T46S 66.86.0.15",
    "Grandstream GXP2170 1.0.11.23",
    "snom D785/10.1.73.16",
    "Linphone/5.2.0 (belle-sip/5.2.0)",
    "MicroSIP/3.21.3",
    "baresip v1.0.0 (x86_64/linux)",
    "Zoiper rv2.10.19.7",
];
const OLD_AGENT: &str = "SIPPhone/1.2 (NIST-SIP 1.2)";
const SCANNER_AGENT: &str = "friendly-scanner";
const DICTIONARY: &[&str] = &[
    "123456", "password", "1234", "12345", "admin", "qwerty", "secret", "000000", "111111",
    "letmein", "voip", "sip", "pass", "changeme", "default", "welcome", "654321", "abc123",
];
const ENUM_NAMES: &[&str] = &[
    "admin", "test", "guest", "operator", "support", "sales", "info", "office", "user", "voip",
];

#[derive(PartialEq, Eq)]
struct Pending {
    ts: i64,
    seq: u64,
    src: Endpoint,
    dst: Endpoint,
    data: Vec<u8>,
    /// TCP (sequence, acknowledgement, flags); UDP when absent.
    tcp: Option<(u32, u32, u8)>,
}

impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(o.ts, o.seq))
    }
}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

fn md5_hex(s: &str) -> String {
    let d = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in d {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The digest `response=` (RFC 2617 §3.2.2.1, MD5, qop absent or auth).
pub fn digest_response(
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// One dialog's fixed identity.
struct Dialog {
    transport: &'static str,
    call_id: String,
    from: String,
    to: String,
    contact: String,
    ua: &'static str,
}

struct Challenge {
    realm: &'static str,
    nonce: String,
    qop: bool,
    opaque: Option<String>,
}

impl Challenge {
    fn header(&self, proxy: bool) -> String {
        let mut h = format!(
            "{}: Digest realm=\"{}\", nonce=\"{}\"",
            if proxy {
                "Proxy-Authenticate"
            } else {
                "WWW-Authenticate"
            },
            self.realm,
            self.nonce
        );
        if let Some(o) = &self.opaque {
            let _ = write!(h, ", opaque=\"{o}\"");
        }
        h.push_str(", algorithm=MD5");
        if self.qop {
            h.push_str(", qop=\"auth\"");
        }
        h
    }
}

/// How the client answers a challenge.
#[derive(Clone, Copy)]
enum Answer<'a> {
    /// qop=auth with this nc (when the challenge offered qop).
    Proper { password: &'a str, nc: u32 },
    /// No qop/cnonce/nc whatever the challenge said (RFC 2069 style).
    NoQop { password: &'a str },
    /// A stateless cracking tool (sipvicious svcrack style): every guess
    /// uses the same cnonce and nc=1 on the same nonce, so the digest
    /// inputs are identical and only the password differs.
    Stateless { password: &'a str, cnonce: &'a str },
}

pub struct Generator<W: Write> {
    cfg: Config,
    rng: Rng,
    out: W,
    heap: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    ip_id: u16,
    truth: Truth,
    accounts: Vec<Account>,
    servers: [Server; 2],
}

impl<W: Write> Generator<W> {
    pub fn new(cfg: Config, out: W) -> Generator<W> {
        let mut rng = Rng::new(cfg.seed);
        let servers = [
            Server {
                ep: Endpoint {
                    ip: Ipv4Addr::new(10, 0, 0, 1),
                    port: 5060,
                },
                realm: "pbx.example",
                qop: true,
                opaque: false,
                agent: "Kamailio (5.6.3 (x86_64/linux))",
            },
            Server {
                ep: Endpoint {
                    ip: Ipv4Addr::new(10, 0, 0, 2),
                    port: 5060,
                },
                realm: "sip.carrier.example",
                qop: false,
                opaque: true,
                agent: "Asterisk PBX 18.10.0",
            },
        ];
        let mut accounts = Vec::with_capacity(cfg.accounts);
        let mut truth = Truth {
            seed: cfg.seed,
            ..Truth::default()
        };
        for i in 0..cfg.accounts.max(10) {
            let kind = match rng.below(100) {
                0..=39 => Kind::GoodQop,
                40..=64 => Kind::GoodNoQop,
                65..=79 => Kind::Unlisted,
                80..=90 => Kind::WrongPassword,
                _ => Kind::MissingCnonce,
            };
            let password = format!("{}-{}", rng.hex(6), rng.hex(4));
            let phone_password = if kind == Kind::WrongPassword {
                // A typo: one character changed.
                let mut p = password.clone().into_bytes();
                p[0] = if p[0] == b'x' { b'y' } else { b'x' };
                String::from_utf8(p).expect("ascii")
            } else {
                password.clone()
            };
            let server = usize::from(kind == Kind::GoodNoQop);
            let user = format!("{}", 20_000 + i);
            if matches!(kind, Kind::GoodQop | Kind::GoodNoQop | Kind::WrongPassword) {
                truth
                    .credentials
                    .push(format!("{user}@{}:{password}", servers[server].realm));
            }
            let n = i as u32;
            // Decided without the RNG, so UDP-only captures stay the same.
            let tcp = kind == Kind::GoodQop && (i % 100) < usize::from(cfg.tcp_percent);
            accounts.push(Account {
                user,
                password,
                phone_password,
                kind,
                phone: Endpoint {
                    ip: Ipv4Addr::new(10, 1 + (n >> 16) as u8, (n >> 8) as u8, n as u8),
                    port: if tcp {
                        40_000 + (n % 20_000) as u16
                    } else {
                        5060
                    },
                },
                ua: if kind == Kind::MissingCnonce {
                    OLD_AGENT
                } else {
                    rng.pick(PHONE_AGENTS)
                },
                server,
                cseq: 1 + rng.below(30_000) as u32,
                tcp,
                conn: None,
            });
        }
        Generator {
            cfg,
            rng,
            out,
            heap: BinaryHeap::new(),
            seq: 0,
            ip_id: 1,
            truth,
            accounts,
            servers,
        }
    }

    /// Writes the whole capture; returns what it contains.
    pub fn run(mut self) -> io::Result<Truth> {
        self.write_file_header()?;
        let n = self.accounts.len();
        // Each account comes back every >= 300 s of capture time.
        let step = (300_000 * MS / n as i64).max(20 * MS);
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let mut now = START_NS;
        let mut k = 0usize;
        let mut dictionary_done = false;
        let mut enumeration_done = false;
        while self.truth.bytes < self.cfg.target_bytes || !dictionary_done || !enumeration_done {
            if !dictionary_done && self.truth.bytes * 10 >= self.cfg.target_bytes * 3 {
                let victim = order
                    .iter()
                    .copied()
                    .find(|&i| self.accounts[i].kind == Kind::GoodQop)
                    .unwrap_or(0);
                self.dictionary_attack(now, victim);
                dictionary_done = true;
            }
            if !enumeration_done && self.truth.bytes * 10 >= self.cfg.target_bytes * 6 {
                self.enumeration(now);
                enumeration_done = true;
            }
            let acct = order[k % n];
            k += 1;
            self.scenario(now, acct);
            now += step / 2 + self.rng.below(step as u64) as i64;
            self.flush_until(now)?;
        }
        self.flush_until(i64::MAX)?;
        self.out.flush()?;
        Ok(self.truth)
    }

    fn count(&mut self, what: &'static str) {
        *self.truth.scenarios.entry(what).or_insert(0) += 1;
    }

    fn scenario(&mut self, t: i64, i: usize) {
        let kind = self.accounts[i].kind;
        let tcp = self.accounts[i].tcp;
        match kind {
            Kind::GoodQop if !tcp && self.rng.chance(0.35) => self.call(t, i),
            Kind::MissingCnonce => {
                let a = &self.accounts[i];
                let pw = a.phone_password.clone();
                self.register(t, i, &[Answer::NoQop { password: &pw }], 403);
                self.truth.missing_cnonce += 1;
                self.count("register-missing-cnonce");
            }
            Kind::WrongPassword => {
                let pw = self.accounts[i].phone_password.clone();
                let tries = [
                    Answer::Proper {
                        password: &pw,
                        nc: 1,
                    },
                    Answer::Proper {
                        password: &pw,
                        nc: 1,
                    },
                    Answer::Proper {
                        password: &pw,
                        nc: 1,
                    },
                ];
                self.register(t, i, &tries, 403);
                self.truth.wrong_password += 3;
                self.count("register-wrong-password");
            }
            Kind::GoodQop | Kind::GoodNoQop | Kind::Unlisted => {
                let pw = self.accounts[i].phone_password.clone();
                self.register(
                    t,
                    i,
                    &[Answer::Proper {
                        password: &pw,
                        nc: 1,
                    }],
                    200,
                );
                if kind != Kind::Unlisted {
                    self.truth.digest_verified += 1;
                }
                self.count(match kind {
                    Kind::GoodQop => "register-qop-ok",
                    Kind::GoodNoQop => "register-noqop-ok",
                    _ => "register-unlisted-ok",
                });
            }
        }
        // Background: the server checks the phone is alive; NAT keep-alive.
        if tcp {
            return;
        }
        if self.rng.chance(0.3) {
            let at = t + (200 + self.rng.below(2000) as i64) * MS;
            self.options_ping(at, i);
        }
        if self.rng.chance(0.2) {
            let a = &self.accounts[i];
            let (src, dst) = (a.phone, self.servers[a.server].ep);
            let at = t + (100 + self.rng.below(3000) as i64) * MS;
            self.send(at, src, dst, b"\r\n\r\n".to_vec(), false);
        }
    }

    fn nonce(&mut self) -> String {
        // Kamailio-like: opaque base64-ish characters.
        let t = self.rng.hex(8);
        format!("{}{}", t, self.rng.hex(24))
    }

    fn challenge_for(&mut self, server: usize) -> Challenge {
        let nonce = self.nonce();
        let s = &self.servers[server];
        let (realm, qop, opaque) = (s.realm, s.qop, s.opaque);
        Challenge {
            realm,
            nonce,
            qop,
            opaque: opaque.then(|| self.rng.hex(16)),
        }
    }

    /// REGISTER -> 401, then one answer per element of `answers`, each
    /// answered by 401 with a fresh nonce except the last, answered by
    /// `last_status`.
    fn register(&mut self, t0: i64, i: usize, answers: &[Answer<'_>], last_status: u16) {
        let a = &self.accounts[i];
        let server = a.server;
        let (phone, srv) = (a.phone, self.servers[server].ep);
        let realm = self.servers[server].realm;
        let user = a.user.clone();
        let ua = a.ua;
        let tcp = a.tcp;
        let dialog = Dialog {
            transport: if tcp { "TCP" } else { "UDP" },
            call_id: format!("{}@{}", self.rng.hex(20), phone.ip),
            from: format!("<sip:{user}@{realm}>;tag={}", self.rng.hex(10)),
            to: format!("<sip:{user}@{realm}>"),
            contact: format!(
                "<sip:{user}@{phone};transport={}>;expires=3600",
                if tcp { "tcp" } else { "udp" }
            ),
            ua,
        };
        let uri = format!("sip:{realm}");
        let mut cseq = self.accounts[i].cseq;
        let mut t = t0;
        let mut auth: Option<String> = None;
        let mut challenge = None;
        for round in 0..=answers.len() {
            let branch = format!("z9hG4bK{}", self.rng.hex(16));
            let req = self.request(
                "REGISTER",
                &uri,
                phone,
                &branch,
                &dialog,
                None,
                cseq,
                "REGISTER",
                auth.as_deref(),
                &[
                    "Expires: 3600",
                    "Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, OPTIONS, MESSAGE",
                ],
                b"",
            );
            let last = round == answers.len();
            // Occasionally the request is retransmitted before the answer.
            // (Not over TCP: the transport retransmits, not SIP.)
            let resend = !tcp && self.rng.chance(0.03);
            self.send_on(i, t, phone, srv, req.clone());
            let mut rt = t + (8 + self.rng.below(20) as i64) * MS;
            if resend {
                self.send(t + 500 * MS, phone, srv, req, true);
                rt = t + 510 * MS;
            }
            let to_tag = self.rng.hex(12);
            let (status, reason, extra) = if last && round > 0 {
                let reason = match last_status {
                    200 => "OK",
                    403 => "Forbidden",
                    _ => "Unauthorized",
                };
                let extra = if last_status == 200 {
                    vec![format!(
                        "Contact: {};expires=3600",
                        &dialog.contact[..dialog.contact.find(';').unwrap_or(dialog.contact.len())]
                    )]
                } else {
                    Vec::new()
                };
                (last_status, reason, extra)
            } else {
                let c = self.challenge_for(server);
                let h = c.header(false);
                challenge = Some(c);
                (401, "Unauthorized", vec![h])
            };
            let resp = self.response(
                status, reason, phone, &branch, &dialog, &to_tag, cseq, "REGISTER", server, &extra,
            );
            if resend {
                // The server answers the retransmission too.
                self.send(rt + MS, srv, phone, resp.clone(), true);
            }
            self.send_on(i, rt, srv, phone, resp);
            if last {
                break;
            }
            let c = challenge.as_ref().expect("challenged above");
            auth = Some(authorization(
                "Authorization",
                &user,
                c,
                "REGISTER",
                &uri,
                answers[round],
                &mut self.rng,
            ));
            cseq += 1;
            t = rt + (20 + self.rng.below(60) as i64) * MS;
        }
        self.accounts[i].cseq = cseq + 1;
    }

    /// INVITE -> 407 -> ACK -> INVITE with Proxy-Authorization -> 100,
    /// 180, 200 -> ACK, media, BYE -> 200.
    fn call(&mut self, t0: i64, i: usize) {
        let a = &self.accounts[i];
        let server = a.server;
        let (phone, srv) = (a.phone, self.servers[server].ep);
        let realm = self.servers[server].realm;
        let user = a.user.clone();
        let password = a.phone_password.clone();
        let ua = a.ua;
        let callee = 20_000 + self.rng.below(self.accounts.len() as u64);
        let uri = format!("sip:{callee}@{realm}");
        let dialog = Dialog {
            transport: "UDP",
            call_id: format!("{}@{}", self.rng.hex(24), phone.ip),
            from: format!("\"{user}\" <sip:{user}@{realm}>;tag={}", self.rng.hex(10)),
            to: format!("<{uri}>"),
            contact: format!("<sip:{user}@{phone};transport=udp>"),
            ua,
        };
        let media_port = 10_000 + 2 * self.rng.below(5000) as u16;
        let sdp = format!(
            "v=0\r\no=- {sess} {sess} IN IP4 {ip}\r\ns=call\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {media_port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
            sess = self.rng.below(1 << 31),
            ip = phone.ip
        );
        let mut cseq = 1 + self.rng.below(100) as u32;
        let mut t = t0;
        let branch = format!("z9hG4bK{}", self.rng.hex(16));
        let ct = ["Content-Type: application/sdp"];
        let inv = self.request(
            "INVITE",
            &uri,
            phone,
            &branch,
            &dialog,
            None,
            cseq,
            "INVITE",
            None,
            &ct,
            sdp.as_bytes(),
        );
        self.send(t, phone, srv, inv, true);
        let proxy_tag = self.rng.hex(12);
        let c = self.challenge_for(server);
        let h = c.header(true);
        t += 6 * MS;
        let r407 = self.response(
            407,
            "Proxy Authentication Required",
            phone,
            &branch,
            &dialog,
            &proxy_tag,
            cseq,
            "INVITE",
            server,
            &[h],
        );
        self.send(t, srv, phone, r407, true);
        t += 2 * MS;
        let ack = self.request(
            "ACK",
            &uri,
            phone,
            &branch,
            &dialog,
            Some(&proxy_tag),
            cseq,
            "ACK",
            None,
            &[],
            b"",
        );
        self.send(t, phone, srv, ack, true);
        cseq += 1;
        let auth = authorization(
            "Proxy-Authorization",
            &user,
            &c,
            "INVITE",
            &uri,
            Answer::Proper {
                password: &password,
                nc: 1,
            },
            &mut self.rng,
        );
        self.truth.digest_verified += 1;
        let branch = format!("z9hG4bK{}", self.rng.hex(16));
        t += 15 * MS;
        let inv = self.request(
            "INVITE",
            &uri,
            phone,
            &branch,
            &dialog,
            None,
            cseq,
            "INVITE",
            Some(&auth),
            &ct,
            sdp.as_bytes(),
        );
        self.send(t, phone, srv, inv, true);
        let tag = self.rng.hex(12);
        t += 5 * MS;
        let trying = self.response(
            100,
            "Trying",
            phone,
            &branch,
            &dialog,
            "",
            cseq,
            "INVITE",
            server,
            &[],
        );
        self.send(t, srv, phone, trying, true);
        t += (300 + self.rng.below(1500) as i64) * MS;
        let ringing = self.response(
            180,
            "Ringing",
            phone,
            &branch,
            &dialog,
            &tag,
            cseq,
            "INVITE",
            server,
            &[],
        );
        self.send(t, srv, phone, ringing, true);
        t += (1000 + self.rng.below(4000) as i64) * MS;
        let contact = format!("Contact: <sip:{callee}@{}:5060>", srv.ip);
        let ok = self.response(
            200,
            "OK",
            phone,
            &branch,
            &dialog,
            &tag,
            cseq,
            "INVITE",
            server,
            &[contact],
        );
        self.send(t, srv, phone, ok, true);
        t += 10 * MS;
        let ack_branch = format!("z9hG4bK{}", self.rng.hex(16));
        let ack = self.request(
            "ACK",
            &uri,
            phone,
            &ack_branch,
            &dialog,
            Some(&tag),
            cseq,
            "ACK",
            None,
            &[],
            b"",
        );
        self.send(t, phone, srv, ack, true);
        // Media: both directions, 20 ms apart, towards the media relay.
        let relay = Endpoint {
            ip: Ipv4Addr::new(10, 0, 0, 10),
            port: 30_000 + 2 * self.rng.below(5000) as u16,
        };
        let me = Endpoint {
            ip: phone.ip,
            port: media_port,
        };
        let ssrc = self.rng.next_u64() as u32;
        for n in 0..self.cfg.rtp_per_call {
            let at = t + i64::from(n) * 20 * MS;
            let out = rtp(n, ssrc, &mut self.rng);
            self.send(at, me, relay, out, false);
            let back = rtp(n, !ssrc, &mut self.rng);
            self.send(at + 3 * MS, relay, me, back, false);
        }
        t += i64::from(self.cfg.rtp_per_call) * 20 * MS + 50 * MS;
        cseq += 1;
        let bye_branch = format!("z9hG4bK{}", self.rng.hex(16));
        let bye = self.request(
            "BYE",
            &uri,
            phone,
            &bye_branch,
            &dialog,
            Some(&tag),
            cseq,
            "BYE",
            None,
            &[],
            b"",
        );
        self.send(t, phone, srv, bye, true);
        let ok = self.response(
            200,
            "OK",
            phone,
            &bye_branch,
            &dialog,
            &tag,
            cseq,
            "BYE",
            server,
            &[],
        );
        self.send(t + 7 * MS, srv, phone, ok, true);
        self.count("invite-407-ok");
    }

    fn options_ping(&mut self, t: i64, i: usize) {
        let a = &self.accounts[i];
        let (phone, srv) = (a.phone, self.servers[a.server].ep);
        let server = a.server;
        let realm = self.servers[server].realm;
        let user = a.user.clone();
        let ua = a.ua;
        let branch = format!("z9hG4bK{}", self.rng.hex(16));
        let dialog = Dialog {
            transport: "UDP",
            call_id: format!("{}@{}", self.rng.hex(16), srv.ip),
            from: format!("<sip:ping@{realm}>;tag={}", self.rng.hex(8)),
            to: format!("<sip:{user}@{phone}>"),
            contact: format!("<sip:ping@{srv}>"),
            ua: self.servers[server].agent,
        };
        let req = self.request(
            "OPTIONS",
            &format!("sip:{user}@{phone}"),
            srv,
            &branch,
            &dialog,
            None,
            1,
            "OPTIONS",
            None,
            &[],
            b"",
        );
        self.send(t, srv, phone, req, true);
        let tag = self.rng.hex(8);
        let mut resp = String::new();
        let _ = write!(
            resp,
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {srv};rport={};received={};branch={branch}\r\nFrom: {}\r\nTo: {};tag={tag}\r\nCall-ID: {}\r\nCSeq: 1 OPTIONS\r\nAccept: application/sdp\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n",
            srv.port, srv.ip, dialog.from, dialog.to, dialog.call_id
        );
        self.send(t + 4 * MS, phone, srv, resp.into_bytes(), true);
        self.count("options-ping");
    }

    /// One source tries many passwords on one account, reusing the first
    /// nonce, 30 ms apart.
    fn dictionary_attack(&mut self, t0: i64, victim: usize) {
        let attacker = Endpoint {
            ip: Ipv4Addr::new(198, 51, 100, 23),
            port: 5070,
        };
        self.truth.attackers.push(attacker.ip.to_string());
        self.truth.brute_force += 1;
        let a = &self.accounts[victim];
        let (server, user, real) = (a.server, a.user.clone(), a.password.clone());
        let srv = self.servers[server].ep;
        let realm = self.servers[server].realm;
        let dialog = Dialog {
            transport: "UDP",
            call_id: format!("{}", self.rng.below(u64::from(u32::MAX))),
            from: format!("\"{user}\" <sip:{user}@{realm}>;tag={}", self.rng.hex(8)),
            to: format!("\"{user}\" <sip:{user}@{realm}>"),
            contact: format!("<sip:{user}@{attacker}>"),
            ua: SCANNER_AGENT,
        };
        let uri = format!("sip:{realm}");
        let mut t = t0;
        let mut cseq = 1;
        let branch = format!("z9hG4bK-{}", self.rng.below(u64::from(u32::MAX)));
        let req = self.request(
            "REGISTER",
            &uri,
            attacker,
            &branch,
            &dialog,
            None,
            cseq,
            "REGISTER",
            None,
            &[],
            b"",
        );
        self.send(t, attacker, srv, req, true);
        let c = self.challenge_for(server);
        let h = c.header(false);
        let tag = self.rng.hex(10);
        let resp = self.response(
            401,
            "Unauthorized",
            attacker,
            &branch,
            &dialog,
            &tag,
            cseq,
            "REGISTER",
            server,
            std::slice::from_ref(&h),
        );
        self.send(t + 2 * MS, srv, attacker, resp, true);
        let tool_cnonce = self.rng.hex(16);
        for w in 0..self.cfg.dictionary_words {
            let word = format!(
                "{}{}",
                DICTIONARY[w % DICTIONARY.len()],
                w / DICTIONARY.len()
            );
            let word = if word == real {
                format!("{word}!")
            } else {
                word
            };
            t += 30 * MS;
            cseq += 1;
            let auth = authorization(
                "Authorization",
                &user,
                &c,
                "REGISTER",
                &uri,
                Answer::Stateless {
                    password: &word,
                    cnonce: &tool_cnonce,
                },
                &mut self.rng,
            );
            let branch = format!("z9hG4bK-{}", self.rng.below(u64::from(u32::MAX)));
            let req = self.request(
                "REGISTER",
                &uri,
                attacker,
                &branch,
                &dialog,
                None,
                cseq,
                "REGISTER",
                Some(&auth),
                &[],
                b"",
            );
            self.send(t, attacker, srv, req, true);
            // The server re-challenges with the same nonce.
            let resp = self.response(
                401,
                "Unauthorized",
                attacker,
                &branch,
                &dialog,
                &tag,
                cseq,
                "REGISTER",
                server,
                std::slice::from_ref(&h),
            );
            self.send(t + 2 * MS, srv, attacker, resp, true);
            self.truth.wrong_password += 1;
        }
        self.count("attack-dictionary");
    }

    /// One source tries many usernames (none of them real accounts).
    fn enumeration(&mut self, t0: i64) {
        let attacker = Endpoint {
            ip: Ipv4Addr::new(203, 0, 113, 77),
            port: 5060,
        };
        self.truth.attackers.push(attacker.ip.to_string());
        self.truth.brute_force += 1;
        let server = 0;
        let srv = self.servers[server].ep;
        let realm = self.servers[server].realm;
        let uri = format!("sip:{realm}");
        let mut t = t0;
        for k in 0..self.cfg.enumerated_users {
            let user = match ENUM_NAMES.get(k) {
                Some(name) => name.to_string(),
                None => format!("{}", 100 + k),
            };
            let dialog = Dialog {
                transport: "UDP",
                call_id: format!("{}", self.rng.below(u64::from(u32::MAX))),
                from: format!("\"{user}\" <sip:{user}@{realm}>;tag={}", self.rng.hex(8)),
                to: format!("\"{user}\" <sip:{user}@{realm}>"),
                contact: format!("<sip:{user}@{attacker}>"),
                ua: SCANNER_AGENT,
            };
            let branch = format!("z9hG4bK-{}", self.rng.below(u64::from(u32::MAX)));
            let req = self.request(
                "REGISTER",
                &uri,
                attacker,
                &branch,
                &dialog,
                None,
                1,
                "REGISTER",
                None,
                &[],
                b"",
            );
            self.send(t, attacker, srv, req, true);
            let c = self.challenge_for(server);
            let h = c.header(false);
            let tag = self.rng.hex(10);
            let resp = self.response(
                401,
                "Unauthorized",
                attacker,
                &branch,
                &dialog,
                &tag,
                1,
                "REGISTER",
                server,
                &[h],
            );
            self.send(t + 2 * MS, srv, attacker, resp, true);
            let auth = authorization(
                "Authorization",
                &user,
                &c,
                "REGISTER",
                &uri,
                Answer::Proper {
                    password: "123456",
                    nc: 1,
                },
                &mut self.rng,
            );
            let branch = format!("z9hG4bK-{}", self.rng.below(u64::from(u32::MAX)));
            let req = self.request(
                "REGISTER",
                &uri,
                attacker,
                &branch,
                &dialog,
                None,
                2,
                "REGISTER",
                Some(&auth),
                &[],
                b"",
            );
            self.send(t + 20 * MS, attacker, srv, req, true);
            let resp = self.response(
                403,
                "Forbidden",
                attacker,
                &branch,
                &dialog,
                &tag,
                2,
                "REGISTER",
                server,
                &[],
            );
            self.send(t + 22 * MS, srv, attacker, resp, true);
            t += 40 * MS;
        }
        self.count("attack-enumeration");
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        method: &str,
        ruri: &str,
        from_ep: Endpoint,
        branch: &str,
        d: &Dialog,
        to_tag: Option<&str>,
        cseq: u32,
        cseq_method: &str,
        auth: Option<&str>,
        extra: &[&str],
        body: &[u8],
    ) -> Vec<u8> {
        let mut s = String::with_capacity(700 + body.len());
        let _ = write!(
            s,
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/{} {from_ep};rport;branch={branch}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}",
            d.transport, d.from, d.to
        );
        if let Some(t) = to_tag {
            let _ = write!(s, ";tag={t}");
        }
        let _ = write!(
            s,
            "\r\nCall-ID: {}\r\nCSeq: {cseq} {cseq_method}\r\nContact: {}\r\nUser-Agent: {}\r\n",
            d.call_id, d.contact, d.ua
        );
        if let Some(a) = auth {
            s.push_str(a);
            s.push_str("\r\n");
        }
        for e in extra {
            s.push_str(e);
            s.push_str("\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", body.len());
        let mut v = s.into_bytes();
        v.extend_from_slice(body);
        v
    }

    #[allow(clippy::too_many_arguments)]
    fn response(
        &mut self,
        status: u16,
        reason: &str,
        client: Endpoint,
        branch: &str,
        d: &Dialog,
        to_tag: &str,
        cseq: u32,
        cseq_method: &str,
        server: usize,
        extra: &[String],
    ) -> Vec<u8> {
        let mut s = String::with_capacity(600);
        let _ = write!(
            s,
            "SIP/2.0 {status} {reason}\r\nVia: SIP/2.0/{} {client};rport={};received={};branch={branch}\r\nFrom: {}\r\nTo: {}",
            d.transport, client.port, client.ip, d.from, d.to
        );
        if !to_tag.is_empty() {
            let _ = write!(s, ";tag={to_tag}");
        }
        let _ = write!(
            s,
            "\r\nCall-ID: {}\r\nCSeq: {cseq} {cseq_method}\r\n",
            d.call_id
        );
        for e in extra {
            s.push_str(e);
            s.push_str("\r\n");
        }
        let _ = write!(
            s,
            "Server: {}\r\nContent-Length: 0\r\n\r\n",
            self.servers[server].agent
        );
        s.into_bytes()
    }

    fn send(&mut self, ts: i64, src: Endpoint, dst: Endpoint, data: Vec<u8>, sip: bool) {
        if sip {
            self.truth.sip_messages += 1;
        }
        self.seq += 1;
        self.heap.push(Reverse(Pending {
            ts,
            seq: self.seq,
            src,
            dst,
            data,
            tcp: None,
        }));
    }

    /// A SIP message on account `i`'s transport: over TCP, the phone's
    /// connection is opened first (three-way handshake) and kept; each
    /// message is one segment.
    fn send_on(&mut self, i: usize, ts: i64, src: Endpoint, dst: Endpoint, data: Vec<u8>) {
        if !self.accounts[i].tcp {
            self.send(ts, src, dst, data, true);
            return;
        }
        let from_phone = src == self.accounts[i].phone;
        let (phone, server) = if from_phone { (src, dst) } else { (dst, src) };
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        const PSH_ACK: u8 = 0x18;
        let (mut c, mut s) = match self.accounts[i].conn {
            Some(cs) => cs,
            None => {
                let (ci, si) = (self.rng.next_u64() as u32, self.rng.next_u64() as u32);
                self.push_segment(ts - 3 * MS, phone, server, Vec::new(), (ci, 0, SYN));
                self.push_segment(
                    ts - 2 * MS,
                    server,
                    phone,
                    Vec::new(),
                    (si, ci.wrapping_add(1), SYN | ACK),
                );
                self.push_segment(
                    ts - MS,
                    phone,
                    server,
                    Vec::new(),
                    (ci.wrapping_add(1), si.wrapping_add(1), ACK),
                );
                (ci.wrapping_add(1), si.wrapping_add(1))
            }
        };
        let len = data.len() as u32;
        self.truth.sip_messages += 1;
        if from_phone {
            self.push_segment(ts, src, dst, data, (c, s, PSH_ACK));
            c = c.wrapping_add(len);
        } else {
            self.push_segment(ts, src, dst, data, (s, c, PSH_ACK));
            s = s.wrapping_add(len);
        }
        self.accounts[i].conn = Some((c, s));
    }

    fn push_segment(
        &mut self,
        ts: i64,
        src: Endpoint,
        dst: Endpoint,
        data: Vec<u8>,
        tcp: (u32, u32, u8),
    ) {
        self.seq += 1;
        self.heap.push(Reverse(Pending {
            ts,
            seq: self.seq,
            src,
            dst,
            data,
            tcp: Some(tcp),
        }));
    }

    fn flush_until(&mut self, until: i64) -> io::Result<()> {
        while let Some(Reverse(p)) = self.heap.peek() {
            if p.ts > until {
                break;
            }
            let Reverse(p) = self.heap.pop().expect("peeked");
            self.write_packet(&p)?;
        }
        Ok(())
    }

    fn write_file_header(&mut self) -> io::Result<()> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
        self.out.write_all(&h)?;
        self.truth.bytes += 24;
        Ok(())
    }

    fn write_packet(&mut self, p: &Pending) -> io::Result<()> {
        let l4_header = if p.tcp.is_some() { 20 } else { 8 };
        let l4_len = l4_header + p.data.len();
        let ip_len = 20 + l4_len;
        let frame_len = 14 + ip_len;
        let mut f = Vec::with_capacity(16 + frame_len);
        let secs = p.ts.div_euclid(1_000_000_000);
        let usecs = p.ts.rem_euclid(1_000_000_000) / 1000;
        f.extend_from_slice(&(secs as u32).to_le_bytes());
        f.extend_from_slice(&(usecs as u32).to_le_bytes());
        f.extend_from_slice(&(frame_len as u32).to_le_bytes());
        f.extend_from_slice(&(frame_len as u32).to_le_bytes());
        f.extend_from_slice(&mac(p.dst.ip));
        f.extend_from_slice(&mac(p.src.ip));
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = if p.tcp.is_some() { 6 } else { 17 };
        ip[12..16].copy_from_slice(&p.src.ip.octets());
        ip[16..20].copy_from_slice(&p.dst.ip.octets());
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&p.src.port.to_be_bytes());
        f.extend_from_slice(&p.dst.port.to_be_bytes());
        match p.tcp {
            Some((seq, ack, flags)) => {
                f.extend_from_slice(&seq.to_be_bytes());
                f.extend_from_slice(&ack.to_be_bytes());
                f.push(5 << 4); // header length: 5 words, no options
                f.push(flags);
                f.extend_from_slice(&65_535u16.to_be_bytes()); // window
                f.extend_from_slice(&[0, 0, 0, 0]); // checksum (not computed), urgent
            }
            None => {
                f.extend_from_slice(&(l4_len as u16).to_be_bytes());
                f.extend_from_slice(&[0, 0]); // no UDP checksum (allowed on IPv4)
            }
        }
        f.extend_from_slice(&p.data);
        self.out.write_all(&f)?;
        self.truth.bytes += f.len() as u64;
        self.truth.packets += 1;
        Ok(())
    }
}

fn mac(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

fn checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for w in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn rtp(n: u32, ssrc: u32, rng: &mut Rng) -> Vec<u8> {
    let mut p = Vec::with_capacity(172);
    p.extend_from_slice(&[0x80, 0x00]);
    p.extend_from_slice(&(n as u16).to_be_bytes());
    p.extend_from_slice(&(n * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    let fill = rng.next_u64().to_le_bytes();
    for k in 0..160 {
        p.push(fill[k % 8] ^ (k as u8));
    }
    p
}

/// The credentials header a client sends for `answer`.
fn authorization(
    header: &str,
    user: &str,
    c: &Challenge,
    method: &str,
    uri: &str,
    answer: Answer<'_>,
    rng: &mut Rng,
) -> String {
    let mut h = format!(
        "{header}: Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\"",
        c.realm, c.nonce
    );
    let response = match answer {
        Answer::Proper { .. } | Answer::Stateless { .. } if c.qop => {
            let (password, nc, cnonce) = match answer {
                Answer::Proper { password, nc } => (password, nc, rng.hex(16)),
                Answer::Stateless { password, cnonce } => (password, 1, cnonce.to_string()),
                Answer::NoQop { .. } => unreachable!("matched above"),
            };
            let nc = format!("{nc:08x}");
            let r = digest_response(
                user,
                c.realm,
                password,
                method,
                uri,
                &c.nonce,
                Some((&nc, &cnonce)),
            );
            let _ = write!(
                h,
                ", response=\"{r}\", cnonce=\"{cnonce}\", nc={nc}, qop=auth"
            );
            r
        }
        Answer::Proper { password, .. }
        | Answer::NoQop { password }
        | Answer::Stateless { password, .. } => {
            let r = digest_response(user, c.realm, password, method, uri, &c.nonce, None);
            let _ = write!(h, ", response=\"{r}\"");
            r
        }
    };
    let _ = response;
    h.push_str(", algorithm=MD5");
    if let Some(o) = &c.opaque {
        let _ = write!(h, ", opaque=\"{o}\"");
    }
    h
}

/// Generates a capture into `out`.
pub fn generate<W: Write>(cfg: Config, out: W) -> io::Result<Truth> {
    Generator::new(cfg, out).run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_vector() {
        // RFC 2617 §3.5.
        let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = md5_hex("GET:/dir/index.html");
        let r = md5_hex(&format!(
            "{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
        assert_eq!(
            digest_response(
                "Mufasa",
                "testrealm@host.com",
                "Circle Of Life",
                "GET",
                "/dir/index.html",
                "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                Some(("00000001", "0a4f113b"))
            ),
            r
        );
    }
}
