//! pcap and pcapng, streamed through our own buffer so records can be lent
//! out without copying; block contents are decoded with `pcap-parser`.
//!
//! Checks are soft: snaplen 0, odd versions, unknown blocks and a cut-off
//! last record are warnings, not failures. A record that claims more bytes
//! than any sane capture holds ends the input with a warning that says where.

use super::{CaptureReader, Format, InputWarning, Peek, RawPacket, Record, Ts};
use pcap_parser::pcapng::{parse_block_be, parse_block_le, parse_sectionheaderblock, Block};
use std::io::Read;

/// Largest block/record accepted: far above any real frame (jumbo frames,
/// TSO/GRO super-packets up to 256 KiB), low enough that a corrupt length
/// cannot make us allocate gigabytes.
const MAX_BLOCK: usize = 4 * 1024 * 1024;
const READ_CHUNK: usize = 256 * 1024;
/// Per-block warnings listed before the rest are only counted.
const MAX_REPEATED_WARNINGS: usize = 20;
/// Distinct link types remembered for the report.
const MAX_LINKTYPES_LISTED: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pcap { big_endian: bool, nanos: bool },
    PcapNg,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    /// Units per second of this interface's timestamps.
    units_per_sec: u64,
    offset_secs: i64,
}

pub struct PcapReader {
    kind: Kind,
    linktype: u32,
    source: Option<Box<dyn Read + Send>>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Offset in the input of `buf[0]`, for warnings.
    base_offset: u64,
    eof: bool,
    done: bool,
    /// The timestamp `peek` found for the record now at the front, whole
    /// in the buffer: `next` takes it instead of reading the record header
    /// again (inputs are merged by time, so every record is peeked first).
    peeked: Option<Ts>,
    frame: u64,
    ng_big_endian: bool,
    interfaces: Vec<Interface>,
    linktypes_seen: Vec<u32>,
    warnings: Vec<InputWarning>,
    /// Warnings from `repeated_warning` so far.
    repeated: usize,
    snaplen_cut: u64,
}

impl PcapReader {
    /// Recognises the format from the first bytes.
    pub fn detect(head: &[u8]) -> Option<PcapReaderBuilder> {
        if head.len() < 4 {
            return None;
        }
        let magic = [head[0], head[1], head[2], head[3]];
        let kind = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => Kind::Pcap {
                big_endian: false,
                nanos: false,
            },
            [0xa1, 0xb2, 0xc3, 0xd4] => Kind::Pcap {
                big_endian: true,
                nanos: false,
            },
            [0x4d, 0x3c, 0xb2, 0xa1] => Kind::Pcap {
                big_endian: false,
                nanos: true,
            },
            [0xa1, 0xb2, 0x3c, 0x4d] => Kind::Pcap {
                big_endian: true,
                nanos: true,
            },
            [0x0a, 0x0d, 0x0d, 0x0a] => Kind::PcapNg,
            _ => return None,
        };
        Some(PcapReaderBuilder { kind })
    }

    fn fill(&mut self, want: usize) -> bool {
        // Ensure buf[start..end] holds at least `want` bytes, if the input has
        // them. Returns false when it does not.
        while self.end - self.start < want {
            if self.eof {
                return false;
            }
            if self.start > 0
                && (self.start > self.buf.len() / 2 || self.buf.len() - self.end < READ_CHUNK)
            {
                self.buf.copy_within(self.start..self.end, 0);
                self.base_offset += self.start as u64;
                self.end -= self.start;
                self.start = 0;
            }
            let need = (self.start + want).max(self.end + READ_CHUNK);
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
            let Some(src) = self.source.as_mut() else {
                self.eof = true;
                return false;
            };
            match src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.warnings.push(InputWarning {
                        what: format!("read error after {} bytes: {e}", self.offset()),
                    });
                    self.eof = true;
                }
            }
        }
        true
    }

    /// A warning that can recur once per block: the first ones are listed,
    /// the rest counted in one last line.
    fn repeated_warning(&mut self, what: String) {
        if self.repeated < MAX_REPEATED_WARNINGS {
            self.warnings.push(InputWarning { what });
        } else {
            let more = self.repeated + 1 - MAX_REPEATED_WARNINGS;
            let line = InputWarning {
                what: format!("... and {more} more skipped blocks"),
            };
            if more == 1 {
                self.warnings.push(line);
            } else if let Some(last) = self.warnings.last_mut() {
                *last = line;
            }
        }
        self.repeated += 1;
    }

    fn offset(&self) -> u64 {
        self.base_offset + self.start as u64
    }

    fn u32_at(&self, at: usize, big_endian: bool) -> u32 {
        // One bounds check and one load (callers filled the buffer first).
        let b = self.buf[at..]
            .first_chunk::<4>()
            .copied()
            .unwrap_or_default();
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn truncated(&mut self, what: &str) {
        let left = self.end - self.start;
        self.warnings.push(InputWarning {
            what: format!(
                "capture ends inside a {what} at byte {} ({left} bytes of it present): the file was cut short, e.g. tcpdump killed while writing",
                self.offset()
            ),
        });
        self.done = true;
    }

    fn corrupt(&mut self, what: String) {
        self.warnings.push(InputWarning {
            what: format!(
                "{what} at byte {}; the rest of the input is skipped",
                self.offset()
            ),
        });
        self.done = true;
    }

    fn read_pcap_header(&mut self) {
        let Kind::Pcap { big_endian, .. } = self.kind else {
            return;
        };
        if !self.fill(24) {
            self.truncated("pcap file header");
            return;
        }
        let s = self.start;
        let snaplen = self.u32_at(s + 16, big_endian);
        // The upper bits of the link type can carry FCS information.
        self.linktype = self.u32_at(s + 20, big_endian) & 0x0fff_ffff;
        self.linktypes_seen.push(self.linktype);
        if snaplen == 0 {
            self.warnings.push(InputWarning {
                what: "pcap header has snaplen 0 (read as unlimited)".into(),
            });
        }
        self.start += 24;
    }

    /// Makes sure the next pcap record is whole in the buffer and returns
    /// its timestamp, without consuming it. `None` at the end (damage is
    /// reported then).
    fn prepare_pcap(&mut self) -> Option<Ts> {
        let Kind::Pcap { big_endian, nanos } = self.kind else {
            return None;
        };
        if self.done {
            return None;
        }
        if !self.fill(16) {
            if self.end > self.start {
                self.truncated("packet record header");
            }
            self.done = true;
            return None;
        }
        let s = self.start;
        let ts_sec = self.u32_at(s, big_endian);
        let ts_frac = self.u32_at(s + 4, big_endian);
        let incl = self.u32_at(s + 8, big_endian) as usize;
        if incl > MAX_BLOCK {
            self.corrupt(format!(
                "packet record {} claims {incl} bytes (corrupt record)",
                self.frame + 1
            ));
            return None;
        }
        if !self.fill(16 + incl) {
            self.truncated("packet record");
            return None;
        }
        let frac_nanos = if nanos {
            i64::from(ts_frac)
        } else {
            i64::from(ts_frac) * 1000
        };
        Some(Ts::from_secs_nanos(i64::from(ts_sec), frac_nanos))
    }

    fn next_pcap(&mut self) -> Option<Record<'_>> {
        let Kind::Pcap { big_endian, .. } = self.kind else {
            return None;
        };
        let ts = match self.peeked.take() {
            Some(ts) => ts,
            None => self.prepare_pcap()?,
        };
        let s = self.start;
        let incl = self.u32_at(s + 8, big_endian) as usize;
        let orig = self.u32_at(s + 12, big_endian);
        self.frame += 1;
        if (orig as usize) > incl {
            self.snaplen_cut += 1;
        }
        self.start += 16 + incl;
        Some(Record::Packet(RawPacket {
            frame: self.frame,
            ts,
            linktype: self.linktype,
            data: &self.buf[s + 16..s + 16 + incl],
            orig_len: orig,
        }))
    }

    /// Reads pcapng blocks up to the next packet block, which it leaves
    /// whole in the buffer, unconsumed; returns that packet's timestamp.
    /// Section headers, interface descriptions and other blocks on the way
    /// are taken in. `None` at the end (damage is reported then).
    fn prepare_pcapng(&mut self) -> Option<Ts> {
        loop {
            if self.done {
                return None;
            }
            if !self.fill(12) {
                if self.end > self.start {
                    self.truncated("pcapng block header");
                }
                self.done = true;
                return None;
            }
            let s = self.start;
            let block_type = self.u32_at(s, self.ng_big_endian);
            if block_type == 0x0a0d_0d0a {
                // Section header: its byte-order magic decides the order of
                // everything up to the next section.
                let bom = [
                    self.buf[s + 8],
                    self.buf[s + 9],
                    self.buf[s + 10],
                    self.buf[s + 11],
                ];
                self.ng_big_endian = match bom {
                    [0x1a, 0x2b, 0x3c, 0x4d] => true,
                    [0x4d, 0x3c, 0x2b, 0x1a] => false,
                    _ => {
                        self.corrupt(
                            "pcapng section header with an unknown byte-order magic".into(),
                        );
                        return None;
                    }
                };
                self.interfaces.clear();
            }
            let len = self.u32_at(s + 4, self.ng_big_endian) as usize;
            if len < 12 || len % 4 != 0 || len > MAX_BLOCK {
                self.corrupt(format!(
                    "pcapng block of type {block_type:#x} claims length {len} (corrupt block)"
                ));
                return None;
            }
            if !self.fill(len) {
                self.truncated("pcapng block");
                return None;
            }
            let s = self.start;
            match block_type {
                // Enhanced packet: interface id and timestamp are fixed
                // fields, read without decoding the block.
                6 if len >= 28 => {
                    let be = self.ng_big_endian;
                    let if_id = self.u32_at(s + 8, be);
                    let Some(iface) = self.interfaces.get(if_id as usize).copied() else {
                        self.repeated_warning(format!(
                            "packet for undeclared interface {if_id} skipped"
                        ));
                        self.start += len;
                        continue;
                    };
                    let raw = (u64::from(self.u32_at(s + 12, be)) << 32)
                        | u64::from(self.u32_at(s + 16, be));
                    let secs = raw / iface.units_per_sec;
                    let rem = raw % iface.units_per_sec;
                    let nanos =
                        (u128::from(rem) * 1_000_000_000 / u128::from(iface.units_per_sec)) as i64;
                    // Both come from the file: add without overflow.
                    return Some(Ts::from_secs_nanos(
                        (secs as i64).saturating_add(iface.offset_secs),
                        nanos,
                    ));
                }
                3 if !self.interfaces.is_empty() => return Some(Ts(0)),
                3 | 6 => {
                    // Too short for its fields, or a simple packet before
                    // any interface: nothing can be read from it.
                    let at = self.base_offset + s as u64;
                    self.repeated_warning(format!(
                        "undecodable pcapng block of type {block_type:#x} at byte {at} skipped"
                    ));
                    self.start += len;
                    continue;
                }
                _ => {}
            }
            self.start += len;
            let bytes = &self.buf[s..s + len];
            let parsed = if block_type == 0x0a0d_0d0a {
                parse_sectionheaderblock(bytes).map(|(_, b)| Block::SectionHeader(b))
            } else if self.ng_big_endian {
                parse_block_be(bytes).map(|(_, b)| b)
            } else {
                parse_block_le(bytes).map(|(_, b)| b)
            };
            match parsed {
                Ok(Block::InterfaceDescription(idb)) => {
                    let linktype = idb.linktype.0 as u32;
                    let units = idb.ts_resolution().unwrap_or(1_000_000).max(1);
                    self.interfaces.push(Interface {
                        linktype,
                        units_per_sec: units,
                        offset_secs: idb.if_tsoffset,
                    });
                    // Bounded: a crafted file can declare an interface of a
                    // new link type in every block.
                    if self.linktypes_seen.len() < MAX_LINKTYPES_LISTED
                        && !self.linktypes_seen.contains(&linktype)
                    {
                        self.linktypes_seen.push(linktype);
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    // Skip what we cannot decode; its length was sane.
                    let at = self.base_offset + s as u64;
                    self.repeated_warning(format!(
                        "undecodable pcapng block of type {block_type:#x} at byte {at} skipped"
                    ));
                }
            }
        }
    }

    fn next_pcapng(&mut self) -> Option<Record<'_>> {
        loop {
            let ts = match self.peeked.take() {
                Some(ts) => ts,
                None => self.prepare_pcapng()?,
            };
            let s = self.start;
            let block_type = self.u32_at(s, self.ng_big_endian);
            let len = self.u32_at(s + 4, self.ng_big_endian) as usize;
            self.start += len;
            let bytes = &self.buf[s..s + len];
            let parsed = if self.ng_big_endian {
                parse_block_be(bytes).map(|(_, b)| b)
            } else {
                parse_block_le(bytes).map(|(_, b)| b)
            };
            match parsed {
                Ok(Block::EnhancedPacket(epb)) => {
                    let Some(iface) = self.interfaces.get(epb.if_id as usize).copied() else {
                        continue;
                    };
                    self.frame += 1;
                    if epb.origlen > epb.caplen {
                        self.snaplen_cut += 1;
                    }
                    let caplen = (epb.caplen as usize).min(epb.data.len());
                    let data_off = epb.data.as_ptr() as usize - bytes.as_ptr() as usize;
                    let orig = epb.origlen;
                    let frame = self.frame;
                    return Some(Record::Packet(RawPacket {
                        frame,
                        ts,
                        linktype: iface.linktype,
                        data: &self.buf[s + data_off..s + data_off + caplen],
                        orig_len: orig,
                    }));
                }
                Ok(Block::SimplePacket(spb)) => {
                    let Some(iface) = self.interfaces.first().copied() else {
                        continue;
                    };
                    self.frame += 1;
                    // The captured length is the smaller of the original
                    // length and what the block holds.
                    let caplen = (spb.origlen as usize).min(len.saturating_sub(16));
                    let frame = self.frame;
                    let orig = spb.origlen;
                    return Some(Record::Packet(RawPacket {
                        frame,
                        ts,
                        linktype: iface.linktype,
                        data: &self.buf[s + 12..s + 12 + caplen],
                        orig_len: orig,
                    }));
                }
                _ => {
                    self.warnings.push(InputWarning {
                        what: format!(
                            "undecodable pcapng block of type {block_type:#x} at byte {} skipped",
                            self.base_offset + s as u64
                        ),
                    });
                }
            }
        }
    }
}

pub struct PcapReaderBuilder {
    kind: Kind,
}

impl PcapReaderBuilder {
    pub fn with_source(self, head: Vec<u8>, source: Box<dyn Read + Send>) -> PcapReader {
        let end = head.len();
        let mut r = PcapReader {
            kind: self.kind,
            linktype: 0,
            source: Some(source),
            buf: head,
            start: 0,
            end,
            base_offset: 0,
            eof: false,
            done: false,
            peeked: None,
            frame: 0,
            ng_big_endian: false,
            interfaces: Vec::new(),
            linktypes_seen: Vec::new(),
            warnings: Vec::new(),
            repeated: 0,
            snaplen_cut: 0,
        };
        r.read_pcap_header();
        r
    }
}

impl CaptureReader for PcapReader {
    fn format(&self) -> Format {
        match self.kind {
            Kind::Pcap { .. } => Format::Pcap,
            Kind::PcapNg => Format::PcapNg,
        }
    }

    fn next(&mut self) -> Option<Record<'_>> {
        if self.done {
            return None;
        }
        match self.kind {
            Kind::Pcap { .. } => self.next_pcap(),
            Kind::PcapNg => self.next_pcapng(),
        }
    }

    fn peek(&mut self) -> Peek {
        if let Some(ts) = self.peeked {
            return Peek::At(ts);
        }
        let ts = match self.kind {
            Kind::Pcap { .. } => self.prepare_pcap(),
            Kind::PcapNg => self.prepare_pcapng(),
        };
        self.peeked = ts;
        ts.map_or(Peek::End, Peek::At)
    }

    fn warnings(&self) -> &[InputWarning] {
        &self.warnings
    }

    fn linktypes(&self) -> Vec<u32> {
        self.linktypes_seen.clone()
    }
}

impl PcapReader {
    /// Packets whose captured length is below their length on the wire.
    pub fn snaplen_cut(&self) -> u64 {
        self.snaplen_cut
    }
}

/// Reads a whole capture from bytes (tests, fuzzing).
pub fn from_bytes(bytes: &[u8]) -> Option<PcapReader> {
    let head = bytes.to_vec();
    let b = PcapReader::detect(&head)?;
    let mut r = b.with_source(head, Box::new(std::io::empty()));
    r.eof = true;
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_le(packets: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&0u32.to_le_bytes()); // snaplen 0: tolerated
        v.extend_from_slice(&101u32.to_le_bytes());
        for (i, p) in packets.iter().enumerate() {
            v.extend_from_slice(&(1000 + i as u32).to_le_bytes());
            v.extend_from_slice(&500u32.to_le_bytes());
            v.extend_from_slice(&(p.len() as u32).to_le_bytes());
            v.extend_from_slice(&(p.len() as u32).to_le_bytes());
            v.extend_from_slice(p);
        }
        v
    }

    #[test]
    fn reads_pcap_and_reports_truncation() {
        let bytes = pcap_le(&[b"abcd", b"efghij"]);
        let mut r = from_bytes(&bytes).unwrap();
        assert_eq!(r.format(), Format::Pcap);
        let mut frames = Vec::new();
        while let Some(Record::Packet(p)) = r.next() {
            frames.push((p.frame, p.data.to_vec(), p.ts, p.linktype));
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].1, b"efghij");
        assert_eq!(frames[0].2, Ts::from_secs_nanos(1000, 500_000));
        assert_eq!(frames[0].3, 101);
        assert!(r.warnings()[0].what.contains("snaplen 0"));

        // Cut inside the second record.
        let cut = &bytes[..bytes.len() - 3];
        let mut r = from_bytes(cut).unwrap();
        let mut n = 0;
        while r.next().is_some() {
            n += 1;
        }
        assert_eq!(n, 1);
        assert!(r.warnings().iter().any(|w| w.what.contains("cut short")));
    }

    /// Found by reading for what fuzzing without overflow checks cannot
    /// see: an interface time offset near i64::MAX overflowed the
    /// timestamp sum (a panic in debug builds).
    #[test]
    fn pcapng_extreme_time_offset_does_not_overflow() {
        let mut v = Vec::new();
        let block = |v: &mut Vec<u8>, kind: u32, body: &[u8]| {
            let len = 12 + body.len() as u32;
            v.extend_from_slice(&kind.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(body);
            v.extend_from_slice(&len.to_le_bytes());
        };
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut v, 0x0a0d_0d0a, &shb);
        let mut idb = Vec::new();
        idb.extend_from_slice(&101u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&14u16.to_le_bytes()); // if_tsoffset
        idb.extend_from_slice(&8u16.to_le_bytes());
        idb.extend_from_slice(&i64::MAX.to_le_bytes());
        idb.extend_from_slice(&[0; 4]); // end of options
        block(&mut v, 1, &idb);
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&u32::MAX.to_le_bytes());
        epb.extend_from_slice(&u32::MAX.to_le_bytes());
        epb.extend_from_slice(&4u32.to_le_bytes());
        epb.extend_from_slice(&4u32.to_le_bytes());
        epb.extend_from_slice(b"abcd");
        block(&mut v, 6, &epb);
        let mut r = from_bytes(&v).unwrap();
        let Some(Record::Packet(p)) = r.next() else {
            panic!("no packet: {:?}", r.warnings())
        };
        assert_eq!(p.data, b"abcd");
        assert!(p.ts.0 > 0);
        let _ = p.ts.rfc3339();
    }

    /// Regression: one warning per undecodable block grew without bound.
    #[test]
    fn repeated_block_warnings_are_capped_and_counted() {
        let mut v = Vec::new();
        let shb: [u8; 28] = [
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0,
        ];
        v.extend_from_slice(&shb);
        for _ in 0..1000 {
            // An enhanced packet block too short to decode (length sane).
            v.extend_from_slice(&[6, 0, 0, 0, 12, 0, 0, 0, 12, 0, 0, 0]);
        }
        let mut r = from_bytes(&v).unwrap();
        assert!(r.next().is_none());
        let w = r.warnings();
        assert_eq!(w.len(), MAX_REPEATED_WARNINGS + 1, "{w:?}");
        assert_eq!(w.last().unwrap().what, "... and 980 more skipped blocks");
    }

    #[test]
    fn absurd_record_length_stops_without_allocating() {
        let mut bytes = pcap_le(&[b"abcd"]);
        let at = 24 + 8;
        bytes[at..at + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let mut r = from_bytes(&bytes).unwrap();
        assert!(r.next().is_none());
        assert!(r.warnings().iter().any(|w| w.what.contains("corrupt")));
    }

    #[test]
    fn peek_predicts_next_without_consuming() {
        let bytes = pcap_le(&[b"abcd", b"efghij"]);
        let mut r = from_bytes(&bytes).unwrap();
        let first = Ts::from_secs_nanos(1000, 500_000);
        assert_eq!(r.peek(), Peek::At(first));
        assert_eq!(r.peek(), Peek::At(first), "peeking twice consumes nothing");
        let Some(Record::Packet(p)) = r.next() else {
            panic!("a packet")
        };
        assert_eq!((p.frame, p.ts, p.data), (1, first, &b"abcd"[..]));
        assert_eq!(r.peek(), Peek::At(Ts::from_secs_nanos(1001, 500_000)));
        assert!(r.next().is_some());
        assert_eq!(r.peek(), Peek::End);
        assert!(r.next().is_none());

        // A cut record: peek says End and the damage is reported already.
        let mut r = from_bytes(&bytes[..bytes.len() - 3]).unwrap();
        assert!(r.next().is_some());
        assert_eq!(r.peek(), Peek::End);
        assert!(r.warnings().iter().any(|w| w.what.contains("cut short")));
    }

    fn ng_block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut padded = body.to_vec();
        while padded.len() % 4 != 0 {
            padded.push(0);
        }
        let len = (12 + padded.len()) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(&padded);
        v.extend_from_slice(&len.to_le_bytes());
        v
    }

    fn epb(if_id: u32, micros: u64, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&if_id.to_le_bytes());
        b.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(micros as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        ng_block(6, &b)
    }

    #[test]
    fn pcapng_peek_reads_past_interface_blocks() {
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        let mut idb = Vec::new();
        idb.extend_from_slice(&101u16.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        let mut bytes = ng_block(0x0a0d_0d0a, &shb);
        bytes.extend(ng_block(1, &idb));
        bytes.extend(epb(7, 5, b"lost")); // undeclared interface
        bytes.extend(epb(0, 2_000_000_250, b"first"));
        bytes.extend(ng_block(1, &idb));
        bytes.extend(epb(1, 3_000_000_000, b"second"));
        let mut r = from_bytes(&bytes).unwrap();
        assert_eq!(r.format(), Format::PcapNg);
        let t1 = Ts::from_secs_nanos(2000, 250_000);
        assert_eq!(r.peek(), Peek::At(t1));
        assert_eq!(r.peek(), Peek::At(t1));
        let Some(Record::Packet(p)) = r.next() else {
            panic!("a packet")
        };
        assert_eq!(
            (p.frame, p.ts, p.data, p.linktype),
            (1, t1, &b"first"[..], 101)
        );
        assert_eq!(r.peek(), Peek::At(Ts::from_secs_nanos(3000, 0)));
        let Some(Record::Packet(p)) = r.next() else {
            panic!("a packet")
        };
        assert_eq!((p.frame, p.data), (2, &b"second"[..]));
        assert_eq!(r.peek(), Peek::End);
        assert!(r
            .warnings()
            .iter()
            .any(|w| w.what.contains("undeclared interface 7")));
    }
}
