//! Reading on a thread of its own: gzip decompression (or any slow source)
//! runs on another core while the analysis consumes what it produced.
//! Chunks travel through a bounded channel and their buffers come back
//! for reuse, so memory is a few chunks whatever the input's size.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread;

/// Bytes per chunk.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the two threads.
const DEPTH: usize = 4;

/// A [`Read`] whose source is read by a background thread.
pub struct ThreadedRead {
    chunks: Receiver<io::Result<Vec<u8>>>,
    spare: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl ThreadedRead {
    /// Starts reading `source` on a new thread. Dropping the reader stops
    /// the thread at its next chunk.
    pub fn spawn(mut source: Box<dyn Read + Send>) -> io::Result<ThreadedRead> {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        let (spare_tx, spare_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
        thread::Builder::new()
            .name("sipauth-read".into())
            .spawn(move || loop {
                let mut buf = spare_rx.try_recv().unwrap_or_default();
                buf.resize(CHUNK, 0);
                let mut got = 0;
                let mut failed = None;
                while got < CHUNK {
                    match source.read(&mut buf[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                buf.truncate(got);
                let end = got == 0 || failed.is_some();
                if got > 0 && tx.send(Ok(buf)).is_err() {
                    return;
                }
                if let Some(e) = failed {
                    let _ = tx.send(Err(e));
                    return;
                }
                if end {
                    return;
                }
            })?;
        Ok(ThreadedRead {
            chunks: rx,
            spare: spare_tx,
            current: Vec::new(),
            pos: 0,
            done: false,
        })
    }
}

impl Read for ThreadedRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.chunks.recv() {
                Ok(Ok(next)) => {
                    let used = std::mem::replace(&mut self.current, next);
                    self.pos = 0;
                    // The reader thread may have ended; a lost buffer is
                    // only a lost reuse.
                    let _ = self.spare.try_send(used);
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The thread ended: everything was delivered.
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that yields its bytes a few at a time, then fails.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        fail_at_end: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.data.len() {
                return if self.fail_at_end {
                    Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt gzip"))
                } else {
                    Ok(0)
                };
            }
            let n = out.len().min(7).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn delivers_every_byte_in_order() {
        let d = data(3 * CHUNK + 12345);
        let mut r = ThreadedRead::spawn(Box::new(Trickle {
            data: d.clone(),
            pos: 0,
            fail_at_end: false,
        }))
        .unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, d);
        assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0, "stays at the end");
    }

    #[test]
    fn an_error_comes_after_the_bytes_before_it() {
        let d = data(CHUNK + 10);
        let mut r = ThreadedRead::spawn(Box::new(Trickle {
            data: d.clone(),
            pos: 0,
            fail_at_end: true,
        }))
        .unwrap();
        let mut got = vec![0u8; d.len()];
        r.read_exact(&mut got).unwrap();
        assert_eq!(got, d);
        let e = r.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn dropping_the_reader_stops_the_thread() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        // An endless source that counts its reads.
        struct Endless(Arc<AtomicUsize>);
        impl Read for Endless {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.0.fetch_add(1, Ordering::SeqCst);
                out.fill(1);
                Ok(out.len())
            }
        }
        let reads = Arc::new(AtomicUsize::new(0));
        let mut r = ThreadedRead::spawn(Box::new(Endless(reads.clone()))).unwrap();
        let mut b = [0u8; 100];
        r.read_exact(&mut b).unwrap();
        drop(r);
        let settled = |reads: &AtomicUsize| {
            let mut last = reads.load(Ordering::SeqCst);
            for _ in 0..100 {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let now = reads.load(Ordering::SeqCst);
                if now == last {
                    return true;
                }
                last = now;
            }
            false
        };
        assert!(settled(&reads), "the reading thread kept going");
        // At most the chunks in flight were read ahead.
        assert!(reads.load(Ordering::SeqCst) <= DEPTH + 3);
    }
}
