//! Builds small pcap captures in memory: UDP datagrams and TCP segments
//! over raw IPv4 (LINKTYPE_RAW). Used by the robustness tests, the fuzz
//! targets (to wrap fuzzed SIP in real packets) and benchmarks; not used
//! by the analysis itself.

/// One packet to write: transport, ports and payload; addresses are
/// 10.0.0.`src_host` -> 10.0.0.`dst_host`.
#[derive(Clone, Debug)]
pub struct SynthPacket<'a> {
    pub tcp: bool,
    pub src_host: u8,
    pub dst_host: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP sequence number (ignored for UDP).
    pub seq: u32,
    pub payload: &'a [u8],
}

/// A little-endian, microsecond pcap being written into a `Vec`.
#[derive(Clone, Debug)]
pub struct PcapWriter {
    bytes: Vec<u8>,
    frames: u32,
}

impl Default for PcapWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PcapWriter {
    pub fn new() -> PcapWriter {
        let mut bytes = Vec::with_capacity(4096);
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&65_535u32.to_le_bytes());
        bytes.extend_from_slice(&crate::capture::linktype::RAW.to_le_bytes());
        PcapWriter { bytes, frames: 0 }
    }

    /// Appends one packet; its timestamp is 1 s after the previous one's
    /// (starting at 2024-01-01), so answer windows behave as in real calls.
    pub fn packet(&mut self, p: &SynthPacket<'_>) -> &mut Self {
        let l4_len = if p.tcp { 20 } else { 8 };
        let total = 20 + l4_len + p.payload.len();
        // IPv4 total length is 16 bits; longer payloads are cut to fit.
        let total = total.min(usize::from(u16::MAX));
        let payload = &p.payload[..total - 20 - l4_len];
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = if p.tcp { 6 } else { 17 };
        ip[12..16].copy_from_slice(&[10, 0, 0, p.src_host]);
        ip[16..20].copy_from_slice(&[10, 0, 0, p.dst_host]);
        let sum = checksum(&ip, 0);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());

        let ts = 1_704_067_200u32.wrapping_add(self.frames);
        self.frames += 1;
        self.bytes.extend_from_slice(&ts.to_le_bytes());
        self.bytes.extend_from_slice(&0u32.to_le_bytes());
        self.bytes.extend_from_slice(&(total as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(total as u32).to_le_bytes());
        self.bytes.extend_from_slice(&ip);
        let l4_start = self.bytes.len();
        self.bytes.extend_from_slice(&p.src_port.to_be_bytes());
        self.bytes.extend_from_slice(&p.dst_port.to_be_bytes());
        if p.tcp {
            self.bytes.extend_from_slice(&p.seq.to_be_bytes());
            self.bytes.extend_from_slice(&0u32.to_be_bytes()); // ack
            self.bytes.extend_from_slice(&[0x50, 0x18]); // 5 words, PSH+ACK
            self.bytes.extend_from_slice(&65_535u16.to_be_bytes());
            self.bytes.extend_from_slice(&[0; 4]); // checksum, urgent
        } else {
            self.bytes
                .extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            self.bytes.extend_from_slice(&[0; 2]); // checksum: none
        }
        self.bytes.extend_from_slice(payload);
        if p.tcp {
            // Pseudo-header + segment, so tshark does not flag it.
            let mut pseudo = [0u8; 12];
            pseudo[..8].copy_from_slice(&ip[12..20]);
            pseudo[9] = 6;
            pseudo[10..12].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
            let sum = checksum(&self.bytes[l4_start..], u32::from(!checksum(&pseudo, 0)));
            self.bytes[l4_start + 16..l4_start + 18].copy_from_slice(&sum.to_be_bytes());
        }
        self
    }

    /// UDP datagram from 10.0.0.1:5060 to 10.0.0.2:5060 (or back when
    /// `reply`).
    pub fn udp(&mut self, payload: &[u8], reply: bool) -> &mut Self {
        let (s, d) = if reply { (2, 1) } else { (1, 2) };
        self.packet(&SynthPacket {
            tcp: false,
            src_host: s,
            dst_host: d,
            src_port: 5060,
            dst_port: 5060,
            seq: 0,
            payload,
        })
    }

    pub fn frames(&self) -> u32 {
        self.frames
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The Internet checksum (RFC 1071) of `data`, continuing from `start`.
fn checksum(data: &[u8], start: u32) -> u16 {
    let mut sum = start;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{pcap, CaptureReader, Record};

    #[test]
    fn written_packets_read_back() {
        let mut w = PcapWriter::new();
        w.udp(b"OPTIONS sip:a SIP/2.0\r\n\r\n", false)
            .packet(&SynthPacket {
                tcp: true,
                src_host: 3,
                dst_host: 4,
                src_port: 1000,
                dst_port: 5060,
                seq: 7,
                payload: b"xyz",
            });
        let mut r = pcap::from_bytes(w.bytes()).unwrap();
        let Some(Record::Packet(p)) = r.next() else {
            panic!("no first packet")
        };
        assert_eq!(p.data.len(), 20 + 8 + 25);
        assert_eq!(&p.data[28..], b"OPTIONS sip:a SIP/2.0\r\n\r\n");
        assert_eq!(checksum(&p.data[..20], 0), 0, "IPv4 header checksum");
        let Some(Record::Packet(p)) = r.next() else {
            panic!("no second packet")
        };
        assert_eq!(p.frame, 2);
        assert_eq!(&p.data[40..], b"xyz");
        assert!(r.next().is_none());
    }
}
