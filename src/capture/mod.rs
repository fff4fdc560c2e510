//! Capture readers: pcap, pcapng (and, through [`Format`], the text formats),
//! from files or stdin, gzip-compressed or not.
//!
//! A reader is a lending iterator: [`CaptureReader::next`] returns a
//! [`Record`] that borrows the reader's buffer until the next call, so packet
//! bytes are never copied on the way to the decoders.

pub mod pcap;
pub mod synth;
pub mod text;
pub mod threaded;

use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;

/// A capture timestamp, nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub i64);

impl serde::Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl Ts {
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Ts {
        Ts(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// Seconds from `earlier` to `self`.
    pub fn since(self, earlier: Ts) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e9
    }
    /// RFC 3339 in UTC with microseconds.
    pub fn rfc3339(self) -> String {
        match self.rfc3339_digits() {
            Some(b) => b.iter().map(|&c| char::from(c)).collect(),
            None => {
                let secs = self.0.div_euclid(1_000_000_000);
                let micros = self.0.rem_euclid(1_000_000_000) / 1000;
                let sod = secs.rem_euclid(86_400);
                let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
                format!(
                    "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
                    sod / 3600,
                    (sod / 60) % 60,
                    sod % 60
                )
            }
        }
    }

    /// [`Ts::rfc3339`] as bytes on the stack, for years 0 to 9999 (others
    /// take more digits or a sign). Written digit by digit: reports print
    /// one per exchange, and the formatting machinery cost more than the
    /// rest of the line.
    pub fn rfc3339_digits(self) -> Option<[u8; 27]> {
        let secs = self.0.div_euclid(1_000_000_000);
        let micros = self.0.rem_euclid(1_000_000_000) / 1000;
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let year = u64::try_from(y).ok().filter(|&y| y <= 9999)?;
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut v: u64| {
            for digit in b[at..at + width].iter_mut().rev() {
                *digit = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, u64::from(m));
        put(8, 2, u64::from(d));
        put(11, 2, (sod / 3600) as u64);
        put(14, 2, ((sod / 60) % 60) as u64);
        put(17, 2, (sod % 60) as u64);
        put(20, 6, micros as u64);
        Some(b)
    }
    /// Time of day, for ladders and compact tables.
    pub fn clock(self) -> String {
        let s = self.rfc3339();
        s[11..26].to_string()
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Link-layer header types (the LINKTYPE_ registry values).
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
    /// Some writers use the DLT value 12 (OpenBSD) or 14 for raw IP.
    pub const DLT_RAW_12: u32 = 12;
    pub const DLT_RAW_14: u32 = 14;

    pub fn name(lt: u32) -> String {
        match lt {
            NULL => "NULL".into(),
            ETHERNET => "ETHERNET".into(),
            RAW | DLT_RAW_12 | DLT_RAW_14 => "RAW".into(),
            LOOP => "LOOP".into(),
            LINUX_SLL => "LINUX_SLL".into(),
            IPV4 => "IPV4".into(),
            IPV6 => "IPV6".into(),
            LINUX_SLL2 => "LINUX_SLL2".into(),
            other => format!("LINKTYPE_{other}"),
        }
    }
}

/// The transport a SIP message travelled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
    Sctp,
    /// Text inputs that do not say.
    Unknown,
}

impl Transport {
    /// The name the JSON reports give it (its serialisation).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
            Transport::Sctp => "sctp",
            Transport::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Unknown => "?",
            known => known.as_str(),
        })
    }
}

/// One captured packet, borrowed from the reader.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// 1-based frame number within its input, as Wireshark counts.
    pub frame: u64,
    pub ts: Ts,
    pub linktype: u32,
    pub data: &'a [u8],
    /// Length on the wire; larger than `data.len()` when snaplen cut it.
    pub orig_len: u32,
}

/// One SIP message from a text input (sngrep save, console log), with
/// whatever the format says about where it came from.
#[derive(Clone, Copy, Debug)]
pub struct TextMessage<'a> {
    pub frame: u64,
    pub ts: Option<Ts>,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub transport: Transport,
    pub data: &'a [u8],
}

#[derive(Clone, Copy, Debug)]
pub enum Record<'a> {
    Packet(RawPacket<'a>),
    Message(TextMessage<'a>),
}

/// Input formats, detected from content (never from the file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Pcap,
    PcapNg,
    SngrepText,
    AsteriskLog,
    FreeswitchLog,
    SnomLog,
    PlainSip,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
            Format::SngrepText => "sngrep-text",
            Format::AsteriskLog => "asterisk-log",
            Format::FreeswitchLog => "freeswitch-log",
            Format::SnomLog => "snom-log",
            Format::PlainSip => "plain-sip",
        })
    }
}

/// Why an input could not be read at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("empty input")]
    Empty,
    #[error("not a capture this tool can read (not pcap, pcapng, gzip, or a SIP text save/log)")]
    Unrecognised,
}

/// Something skipped or cut short while reading; the rest is still read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InputWarning {
    pub what: String,
}

/// What the next record of a reader is, without consuming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peek {
    /// A record with this timestamp.
    At(Ts),
    /// A record whose input has no time (plain SIP text).
    Untimed,
    /// Nothing more; any damage at the end is already in the warnings.
    End,
}

/// A lending reader over one input.
pub trait CaptureReader: Send {
    fn format(&self) -> Format;
    /// The next record, or `None` at the end. Damage is reported through
    /// [`CaptureReader::warnings`], not as an error, so what was read
    /// before it still counts.
    fn next(&mut self) -> Option<Record<'_>>;
    /// The timestamp of the record [`CaptureReader::next`] will return,
    /// so several inputs can be merged by time. Cheap: it reads ahead at
    /// most one record, which `next` then returns without reading again.
    fn peek(&mut self) -> Peek;
    fn warnings(&self) -> &[InputWarning];
    /// Link types seen so far (pcapng can have several).
    fn linktypes(&self) -> Vec<u32>;
}

/// Reads up to `n` bytes (fewer only at end of input).
pub(crate) fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Opens a reader over `source`, detecting gzip and the capture format
/// from the first bytes. Text inputs read their times as UTC.
pub fn open_reader(source: Box<dyn Read + Send>) -> Result<Box<dyn CaptureReader>, OpenError> {
    open_reader_with(source, &text::TextOptions::default())
}

/// [`open_reader`] with options for text inputs (the zone of their times).
pub fn open_reader_with(
    mut source: Box<dyn Read + Send>,
    opts: &text::TextOptions,
) -> Result<Box<dyn CaptureReader>, OpenError> {
    let mut head = read_up_to(&mut source, 4096)?;
    if head.is_empty() {
        return Err(OpenError::Empty);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let inner = io::Cursor::new(head).chain(source);
        let decoder = flate2::read::MultiGzDecoder::new(inner);
        // Decompression on its own core, ahead of the analysis.
        return match threaded::ThreadedRead::spawn(Box::new(decoder)) {
            Ok(r) => open_reader_with(Box::new(r), opts),
            Err(e) => Err(e.into()),
        };
    }
    if let Some(r) = pcap::PcapReader::detect(&head) {
        let reader = r.with_source(head, source);
        return Ok(Box::new(reader));
    }
    // Text: logs may open with noise, so look further before deciding.
    if head.len() == 4096 {
        let more = read_up_to(&mut source, text::DETECT_BYTES - head.len())?;
        head.extend_from_slice(&more);
    }
    if let Some(format) = text::detect(&head) {
        return Ok(Box::new(text::TextReader::open(format, head, source, opts)));
    }
    Err(OpenError::Unrecognised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_utc() {
        let ts = Ts::from_secs_nanos(1_700_000_000, 123_456_000);
        assert_eq!(ts.rfc3339(), "2023-11-14T22:13:20.123456Z");
        assert_eq!(Ts(0).rfc3339(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            Ts::from_secs_nanos(-1, 999_999_000).rfc3339(),
            "1969-12-31T23:59:59.999999Z"
        );
        // The ends of what nanoseconds in an i64 can hold.
        assert_eq!(Ts(i64::MAX).rfc3339(), "2262-04-11T23:47:16.854775Z");
        assert_eq!(Ts(i64::MIN).rfc3339(), "1677-09-21T00:12:43.145224Z");
        assert_eq!(ts.clock(), "22:13:20.123456");
        assert_eq!(days_from_civil(2023, 11, 14), 1_700_000_000 / 86_400);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
