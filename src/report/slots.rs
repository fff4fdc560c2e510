//! A number per exchange id that does not stay in memory: the account
//! table looks up an exchange's account when a finding names it, which for
//! capture-wide findings (brute force) can be any exchange of the capture.
//! Exchange ids are dense and arrive in increasing order, so the latest
//! ones stay in memory and older ones move, a chunk at a time, to an
//! unnamed temporary file, read back only for the few ids asked later.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

/// Slots moved to the file at a time (512 KiB).
const CHUNK: usize = 1 << 16;

/// Bytes per slot in the file.
const SLOT_BYTES: usize = 8;

/// `(u32, u32)` by dense id, `(0, 0)` for ids never set.
pub struct Slots {
    /// Ids `[base, base + recent.len())`.
    recent: Vec<(u32, u32)>,
    base: usize,
    /// Ids `[0, base)`; `None` until the first chunk moves, and for good if
    /// no temporary file can be made (then everything stays in memory).
    file: Option<File>,
    spill: bool,
}

impl Slots {
    pub fn new() -> Slots {
        Slots {
            recent: Vec::new(),
            base: 0,
            file: None,
            spill: true,
        }
    }

    pub fn set(&mut self, id: usize, value: (u32, u32)) {
        if id < self.base {
            // Ids only grow; an older one is rare and goes straight to
            // where it lives.
            let _ = self.write_at(id, value);
            return;
        }
        let i = id - self.base;
        if self.recent.len() <= i {
            self.recent.resize(i + 1, (0, 0));
        }
        self.recent[i] = value;
        if self.spill && self.recent.len() >= 2 * CHUNK {
            self.move_chunk();
        }
    }

    pub fn get(&self, id: usize) -> Option<(u32, u32)> {
        if id >= self.base {
            return self.recent.get(id - self.base).copied();
        }
        let mut file = self.file.as_ref()?;
        let mut b = [0u8; SLOT_BYTES];
        file.seek(SeekFrom::Start((id * SLOT_BYTES) as u64)).ok()?;
        file.read_exact(&mut b).ok()?;
        let [a0, a1, a2, a3, h0, h1, h2, h3] = b;
        Some((
            u32::from_le_bytes([a0, a1, a2, a3]),
            u32::from_le_bytes([h0, h1, h2, h3]),
        ))
    }

    /// Moves the oldest [`CHUNK`] slots to the file; on any failure stops
    /// spilling and keeps them in memory.
    fn move_chunk(&mut self) {
        if self.file.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.file = Some(f),
                Err(_) => {
                    self.spill = false;
                    return;
                }
            }
        }
        let mut bytes = Vec::with_capacity(CHUNK * SLOT_BYTES);
        for &(a, h) in &self.recent[..CHUNK] {
            bytes.extend_from_slice(&a.to_le_bytes());
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        let offset = (self.base * SLOT_BYTES) as u64;
        let written = self.file.as_ref().is_some_and(|mut f| {
            f.seek(SeekFrom::Start(offset)).is_ok() && f.write_all(&bytes).is_ok()
        });
        if !written {
            self.spill = false;
            return;
        }
        self.recent.drain(..CHUNK);
        self.base += CHUNK;
    }

    fn write_at(&self, id: usize, (a, h): (u32, u32)) -> std::io::Result<()> {
        let Some(mut f) = self.file.as_ref() else {
            return Ok(());
        };
        let mut b = [0u8; SLOT_BYTES];
        b[..4].copy_from_slice(&a.to_le_bytes());
        b[4..].copy_from_slice(&h.to_le_bytes());
        f.seek(SeekFrom::Start((id * SLOT_BYTES) as u64))?;
        f.write_all(&b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_read_back_from_memory_and_from_the_file() {
        let mut s = Slots::new();
        let n = 5 * CHUNK + 123;
        for id in (0..n).filter(|id| id % 3 != 0) {
            s.set(id, (id as u32 + 1, (id as u32) ^ 0xdead_beef));
        }
        assert!(s.base >= 3 * CHUNK, "older slots moved out");
        assert!(s.recent.len() < 2 * CHUNK, "memory stays bounded");
        for id in [1, 2, 3, CHUNK + 1, 3 * CHUNK + 2, n - 1, n - 2] {
            let want = if id % 3 == 0 {
                (0, 0)
            } else {
                (id as u32 + 1, (id as u32) ^ 0xdead_beef)
            };
            assert_eq!(s.get(id), Some(want), "id {id}");
        }
        assert_eq!(s.get(n + 10), None);
        // An old id set late lands in the file.
        s.set(3, (9, 9));
        assert_eq!(s.get(3), Some((9, 9)));
    }
}
