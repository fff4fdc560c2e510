//! WebSocket (RFC 6455) framing for SIP over WebSocket (RFC 7118): after
//! the HTTP Upgrade, each WebSocket message (text or binary, possibly split
//! into continuation frames, masked when sent by the client) carries one
//! SIP message. Control frames (ping, pong, close) are skipped.

/// The largest message reassembled from frames; SIP messages are far
/// smaller, more is dropped and counted.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// One parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1: set for permessage-deflate compressed messages.
    pub compressed: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub header_len: usize,
    pub payload_len: u64,
}

pub const OP_CONTINUATION: u8 = 0;
pub const OP_TEXT: u8 = 1;
pub const OP_BINARY: u8 = 2;

/// Parses a frame header; `None` when more bytes are needed.
pub fn header(b: &[u8]) -> Option<FrameHeader> {
    let b0 = *b.first()?;
    let b1 = *b.get(1)?;
    let (payload_len, mut len) = match b1 & 0x7f {
        126 => (u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])), 4),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let m: [u8; 4] = b.get(len..len + 4)?.try_into().ok()?;
        len += 4;
        Some(m)
    } else {
        None
    };
    Some(FrameHeader {
        fin: b0 & 0x80 != 0,
        compressed: b0 & 0x40 != 0,
        opcode: b0 & 0x0f,
        mask,
        header_len: len,
        payload_len,
    })
}

/// XORs `data` with the mask, starting at byte `pos` of the frame payload.
pub fn unmask(data: &mut [u8], mask: [u8; 4], pos: usize) {
    for (i, c) in data.iter_mut().enumerate() {
        *c ^= mask[(pos + i) % 4];
    }
}

/// What [`WsDirection::next`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// Need more bytes.
    Wait,
    /// `used` bytes consumed; `message` is a complete message, if any.
    Used {
        used: usize,
        message: Option<&'a [u8]>,
    },
}

/// Counters of what was not delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WsDropped {
    pub oversized: u64,
    pub compressed: u64,
    pub orphan_continuations: u64,
    pub unfinished: u64,
}

/// Frame state of one direction of a WebSocket connection.
#[derive(Debug, Default)]
pub struct WsDirection {
    /// The message being reassembled (or unmasked).
    message: Vec<u8>,
    in_message: bool,
    /// The current message is being dropped (too large or compressed).
    dropping: bool,
    /// Bytes of an oversized frame still to skip.
    skip: u64,
    pub dropped: WsDropped,
}

impl WsDirection {
    /// Consumes the frame at the front of `data`.
    pub fn next<'s>(&'s mut self, data: &'s [u8]) -> Step<'s> {
        if self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            self.skip -= n as u64;
            return Step::Used {
                used: n,
                message: None,
            };
        }
        let Some(h) = header(data) else {
            return Step::Wait;
        };
        let control = h.opcode >= 8;
        let fits = h.payload_len <= MAX_MESSAGE as u64;
        if !fits {
            // Never wait for (or hold) a frame this large: skip it as it
            // arrives.
            if !control && !self.dropping {
                self.dropped.oversized += 1;
            }
            self.dropping = !control && !h.fin;
            self.in_message = !control && !h.fin;
            self.message.clear();
            let avail = (data.len() - h.header_len) as u64;
            let take = avail.min(h.payload_len);
            self.skip = h.payload_len - take;
            return Step::Used {
                used: h.header_len + take as usize,
                message: None,
            };
        }
        let total = h.header_len + h.payload_len as usize;
        let Some(payload) = data.get(h.header_len..total) else {
            return Step::Wait;
        };
        let done = |message| Step::Used {
            used: total,
            message,
        };
        if control || !matches!(h.opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY) {
            return done(None);
        }
        if h.opcode == OP_CONTINUATION {
            if !self.in_message {
                self.dropped.orphan_continuations += 1;
                return done(None);
            }
        } else {
            if self.in_message && !self.dropping {
                self.dropped.unfinished += 1;
            }
            self.message.clear();
            self.in_message = true;
            self.dropping = false;
            if h.compressed {
                self.dropped.compressed += 1;
                self.dropping = true;
            }
        }
        if !self.dropping {
            if self.message.len() + payload.len() > MAX_MESSAGE {
                self.dropped.oversized += 1;
                self.dropping = true;
                self.message.clear();
            } else if h.mask.is_none() && h.fin && self.message.is_empty() {
                // A whole unmasked message in one frame: no copy.
                self.in_message = false;
                return done(Some(payload));
            } else {
                let start = self.message.len();
                self.message.extend_from_slice(payload);
                if let Some(m) = h.mask {
                    unmask(&mut self.message[start..], m, 0);
                }
            }
        }
        if h.fin {
            self.in_message = false;
            if !std::mem::take(&mut self.dropping) {
                return done(Some(&self.message));
            }
            self.message.clear();
        }
        done(None)
    }

    /// The direction ended: a message still open is lost.
    pub fn end(&mut self) {
        if self.in_message && !self.dropping {
            self.dropped.unfinished += 1;
        }
        self.in_message = false;
        self.message = Vec::new();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a frame as a client (masked) or server would send it.
    pub(crate) fn frame(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![(u8::from(fin) << 7) | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n <= 0xffff => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mut p = payload.to_vec();
        if let Some(k) = mask {
            f.extend_from_slice(&k);
            unmask(&mut p, k, 0);
        }
        f.extend_from_slice(&p);
        f
    }

    /// Runs all frames in `data` through one direction, fed in pieces of
    /// `chunk` bytes, and returns the messages.
    fn messages(data: &[u8], chunk: usize) -> (Vec<Vec<u8>>, WsDirection) {
        let mut ws = WsDirection::default();
        let mut out = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        for piece in data.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match ws.next(&buf) {
                    Step::Wait => break,
                    Step::Used { used, message } => {
                        if let Some(m) = message {
                            out.push(m.to_vec());
                        }
                        buf.drain(..used);
                        if used == 0 || buf.is_empty() {
                            break;
                        }
                    }
                }
            }
        }
        ws.end();
        (out, ws)
    }

    #[test]
    fn masked_fragmented_text_and_binary_with_control_frames() {
        let k = Some([1, 2, 3, 4]);
        let mut d = frame(true, OP_TEXT, k, b"REGISTER a");
        d.extend(frame(false, OP_BINARY, k, b"INVITE "));
        d.extend(frame(true, 9, k, b"ping")); // ping in the middle
        d.extend(frame(false, OP_CONTINUATION, k, b"sip:b "));
        d.extend(frame(true, OP_CONTINUATION, None, b"SIP/2.0"));
        d.extend(frame(true, 8, None, &[3, 232])); // close
        for chunk in [1, 3, 7, d.len()] {
            let (out, ws) = messages(&d, chunk);
            assert_eq!(
                out,
                vec![b"REGISTER a".to_vec(), b"INVITE sip:b SIP/2.0".to_vec()]
            );
            assert_eq!(ws.dropped, WsDropped::default());
        }
    }

    #[test]
    fn extended_lengths() {
        let big = vec![b'x'; 70_000];
        let mid = vec![b'y'; 300];
        let mut d = frame(true, OP_TEXT, None, &mid);
        d.extend(frame(true, OP_TEXT, Some([9, 9, 9, 9]), &big));
        let (out, _) = messages(&d, 4096);
        assert_eq!(out, vec![mid, big]);
    }

    #[test]
    fn oversized_compressed_and_orphans_are_dropped_and_counted() {
        let huge = vec![0u8; MAX_MESSAGE + 1];
        let mut d = frame(true, OP_TEXT, None, &huge);
        d.extend(frame(true, OP_CONTINUATION, None, b"orphan"));
        let mut c = frame(true, OP_TEXT, None, b"deflated");
        c[0] |= 0x40;
        d.extend(c);
        d.extend(frame(false, OP_TEXT, None, b"never fin"));
        d.extend(frame(true, OP_TEXT, None, b"OPTIONS"));
        let (out, ws) = messages(&d, 1000);
        assert_eq!(out, vec![b"OPTIONS".to_vec()]);
        assert_eq!(
            ws.dropped,
            WsDropped {
                oversized: 1,
                compressed: 1,
                orphan_continuations: 1,
                unfinished: 1,
            }
        );
    }

    #[test]
    fn hostile_64_bit_length_is_skipped_not_allocated() {
        let mut d = vec![0x81, 127];
        d.extend_from_slice(&u64::MAX.to_be_bytes());
        d.extend_from_slice(b"abc");
        let mut ws = WsDirection::default();
        assert_eq!(
            ws.next(&d),
            Step::Used {
                used: d.len(),
                message: None
            }
        );
        assert_eq!(ws.skip, u64::MAX - 3);
        assert!(ws.message.capacity() < 1024);
    }
}
