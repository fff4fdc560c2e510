//! `--details`: every finding of every exchange, grouped by exchange, most
//! severe exchange first, each with its evidence, frames and fix. Groups of
//! the same severity are in exchange order, the group of findings about no
//! single exchange ("Across exchanges") first.
//!
//! [`Spool`] writes the same text from exchanges as they finish (with the
//! ladders of `--ladder`), for the streamed view.

use super::{frames, ladder_style, write_ladder, Paint, TextOptions, MAX_WIDTH};
use crate::analysis::Analysis;
use crate::correlate::AuthExchange;
use crate::report::endpoint;
use crate::report::ladder;
use crate::report::sanitize::term;
use crate::rules::{Finding, Severity};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::ops::Range;

pub(super) fn write(a: &Analysis, p: &Paint, out: &mut dyn Write) -> io::Result<()> {
    let mut groups: Vec<(Option<usize>, Vec<&Finding>)> = Vec::new();
    let mut group_of: HashMap<Option<usize>, usize> = HashMap::new();
    for f in &a.findings {
        let i = *group_of.entry(f.exchange).or_insert_with(|| {
            groups.push((f.exchange, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(f);
    }
    let lookup = crate::report::Lookup::new(a);
    for (_, v) in &mut groups {
        v.sort_by_key(|f| std::cmp::Reverse(f.severity));
    }
    groups.sort_by(|x, y| {
        let wx = x.1.first().map(|f| f.severity);
        let wy = y.1.first().map(|f| f.severity);
        wy.cmp(&wx).then(x.0.cmp(&y.0))
    });
    for (exid, fs) in &groups {
        write_group(exid.and_then(|id| lookup.exchange(id)), fs, p, out)?;
    }
    Ok(())
}

/// One group: the exchange's line (or "Across exchanges"), then its
/// findings, already in order.
fn write_group(
    ex: Option<&AuthExchange>,
    fs: &[&Finding],
    p: &Paint,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_group_head(ex, p, out)?;
    for f in fs {
        write_finding(f, p, out)?;
    }
    writeln!(out)
}

/// The first line of a group.
fn write_group_head(ex: Option<&AuthExchange>, p: &Paint, out: &mut dyn Write) -> io::Result<()> {
    match ex {
        Some(ex) => writeln!(
            out,
            "{} #{} {} {} {} -> {}  {} rounds, {}{}",
            p.bold("Exchange"),
            ex.id,
            term(&ex.method),
            term(&ex.user().unwrap_or_else(|| "?".into())),
            endpoint(ex.client),
            endpoint(ex.server),
            ex.rounds.len(),
            p.outcome(ex.outcome),
            ex.failure
                .as_deref()
                .map(|f| format!(" ({})", term(f)))
                .unwrap_or_default()
        ),
        None => writeln!(out, "{}", p.bold("Across exchanges")),
    }
}

/// One finding of a group: its line, evidence, frames and fix.
fn write_finding(f: &Finding, p: &Paint, out: &mut dyn Write) -> io::Result<()> {
    let tag = format!("{:<8}", f.severity.as_str());
    writeln!(
        out,
        "  {} {} {}",
        p.sev(f.severity, &tag),
        p.bold(f.rule),
        term(&f.message)
    )?;
    let width = f.evidence.0.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &f.evidence.0 {
        let k = term(k);
        writeln!(out, "      {}  {}", p.dim(&format!("{k:<width$}")), term(v))?;
    }
    writeln!(out, "      {} {}", p.dim("frames"), frames(&f.frames))?;
    writeln!(out, "      {} {}", p.bold("fix:"), term(&f.fix))
}

/// Severities, most severe first: one temporary file each.
const BUCKETS: [Severity; 4] = [
    Severity::Critical,
    Severity::Error,
    Severity::Warning,
    Severity::Info,
];

/// `--details` and `--ladder` of the streamed text view: each exchange's
/// group of findings goes, as it finishes, to the temporary file of its
/// most severe finding, and its ladder to another; the view then copies
/// them after its head. Exchanges finish in id order, so each file is in
/// the order the kept view prints.
///
/// The findings of the capture-wide rules can name an exchange long after
/// it finished. They come either from a first read of the capture
/// ([`Spool::new`]: each group and ladder is complete when it is written)
/// or at the end of the one read ([`Spool::in_one_read`]): then each group
/// is kept as its head and its findings apart, also the head of an
/// exchange without findings of its own, and the few groups a
/// capture-wide finding joins are put together again at the end, in the
/// file of their new most severe finding; each ladder is kept drawn and
/// also encoded ([`ladder::Ladder::encode`]), and the few that a
/// capture-wide finding names are decoded, marked and drawn again.
pub struct Spool {
    details: bool,
    ladder: bool,
    paint: Paint,
    width: usize,
    /// When the capture-wide findings come.
    late_from: LateFrom,
    /// Capture-wide findings about one exchange, by exchange.
    late: HashMap<usize, Vec<Finding>>,
    /// Capture-wide findings about no single exchange.
    across: Vec<Finding>,
    buckets: Vec<BufWriter<File>>,
    /// In one read: the heads of exchanges without findings of their own.
    quiet: Option<BufWriter<File>>,
    /// In one read: the ladders [`ladder::Ladder::encode`] could not
    /// write, by exchange.
    unencoded: HashMap<usize, ladder::Ladder>,
    ladders: Option<BufWriter<File>>,
    /// Reused to render one group's parts.
    scratch: Vec<u8>,
    /// The first write error; later writes are not attempted.
    error: Option<io::Error>,
}

impl Spool {
    /// `capture_wide`: the findings about the capture as a whole, from a
    /// first read of the same capture; the error when no temporary file
    /// can be made.
    pub fn new(o: &TextOptions, capture_wide: Vec<Finding>) -> io::Result<Spool> {
        let mut spool = Spool::empty(o)?;
        spool.late_from = LateFrom::FirstRead;
        spool.sort_late(capture_wide.into_iter());
        Ok(spool)
    }

    /// For one read: the capture-wide findings are given at the end, to
    /// [`Spool::findings_at_end`].
    pub fn in_one_read(o: &TextOptions) -> io::Result<Spool> {
        let mut spool = Spool::empty(o)?;
        if o.details {
            spool.quiet = Some(BufWriter::with_capacity(1 << 16, tempfile::tempfile()?));
        }
        Ok(spool)
    }

    fn empty(o: &TextOptions) -> io::Result<Spool> {
        let mut buckets = Vec::new();
        if o.details {
            for _ in BUCKETS {
                buckets.push(BufWriter::with_capacity(1 << 16, tempfile::tempfile()?));
            }
        }
        let ladders = match o.ladder {
            true => Some(BufWriter::with_capacity(1 << 16, tempfile::tempfile()?)),
            false => None,
        };
        Ok(Spool {
            details: o.details,
            ladder: o.ladder,
            paint: Paint { on: o.color },
            width: usize::from(o.width.clamp(40, MAX_WIDTH)),
            late_from: LateFrom::End,
            late: HashMap::new(),
            across: Vec::new(),
            buckets,
            quiet: None,
            unencoded: HashMap::new(),
            ladders,
            scratch: Vec::new(),
            error: None,
        })
    }

    fn sort_late(&mut self, capture_wide: impl Iterator<Item = Finding>) {
        for f in capture_wide {
            match f.exchange {
                Some(id) => self.late.entry(id).or_default().push(f),
                None => self.across.push(f),
            }
        }
    }

    /// A finished exchange with the findings of the per-exchange rules.
    pub fn exchange(&mut self, ex: &AuthExchange, findings: &[Finding]) {
        if self.error.is_some() {
            return;
        }
        if self.late_from != LateFrom::FirstRead {
            let mut written = Ok(());
            if self.details {
                let mut fs: Vec<&Finding> = findings.iter().collect();
                fs.sort_by_key(|f| std::cmp::Reverse(f.severity));
                let file = match fs.first() {
                    Some(f) => self.buckets.get_mut(bucket_of(f.severity)),
                    None => self.quiet.as_mut(),
                };
                if let Some(file) = file {
                    written = write_parts(ex, &fs, &self.paint, &mut self.scratch, file);
                }
            }
            if let (true, Some(file)) = (self.ladder, &mut self.ladders) {
                // Marked with the exchange's own findings in their order,
                // as the kept view marks them (the late ones after).
                let mut l = ladder::unmarked(ex);
                ladder::mark(&mut l, findings);
                let drawn = DrawnLadder {
                    paint: &self.paint,
                    width: self.width,
                };
                written = written.and_then(|_| {
                    drawn.spool(ex, &l, &mut self.scratch, &mut self.unencoded, file)
                });
            }
            if let Err(e) = written {
                self.error = Some(e);
            }
            return;
        }
        let late = self.late.remove(&ex.id).unwrap_or_default();
        // As the kept view: the exchange's findings, then the capture-wide
        // ones about it, most severe first (a stable sort).
        let mut fs: Vec<&Finding> = findings.iter().chain(&late).collect();
        fs.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let mut written = Ok(());
        if self.details {
            if let Some(worst) = fs.first().map(|f| f.severity) {
                let b = bucket_of(worst);
                written = write_group(Some(ex), &fs, &self.paint, &mut self.buckets[b]);
            }
        }
        if let (true, Some(out)) = (self.ladder, &mut self.ladders) {
            let mut l = ladder::unmarked(ex);
            ladder::mark(&mut l, fs.iter().copied());
            let style = ladder_style(self.paint.on);
            written =
                written.and_then(|_| write_ladder(ex, &l, &self.paint, self.width, &style, out));
        }
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    /// The findings about the capture as a whole, once the capture is
    /// read (ignored when [`Spool::new`] had them already).
    pub fn findings_at_end(&mut self, capture_wide: &[Finding]) {
        if self.late_from == LateFrom::End {
            self.late_from = LateFrom::Given;
            self.sort_late(capture_wide.iter().cloned());
        }
    }

    /// The groups of `--details`, most severe first.
    pub fn write_details(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut across: Vec<&Finding> = self.across.iter().collect();
        across.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let across_at = across.first().map(|f| f.severity);
        if self.late_from == LateFrom::FirstRead {
            for (i, bucket) in std::mem::take(&mut self.buckets).into_iter().enumerate() {
                if across_at == Some(BUCKETS[i]) {
                    write_group(None, &across, &self.paint, out)?;
                }
                copy_back(bucket, out)?;
            }
            return Ok(());
        }
        // One read: the groups a capture-wide finding joins are put
        // together first (from every file, the heads without findings
        // too), each for the file of its most severe finding; then each
        // file is written with those merged in by exchange id.
        let mut files = Vec::new();
        for f in std::mem::take(&mut self.buckets)
            .into_iter()
            .chain(self.quiet.take())
        {
            files.push(read_back(f)?);
        }
        let mut joined: BTreeMap<(usize, usize), Vec<u8>> = BTreeMap::new();
        let mut part = Parts::default();
        if !self.late.is_empty() {
            for file in &mut files {
                while part.read(file)? {
                    if let Some(late) = self.late.get(&part.id) {
                        let (bucket, group) = part.joined(late, &self.paint)?;
                        joined.insert((bucket, part.id), group);
                    }
                }
                file.rewind()?;
            }
        }
        for (i, file) in files.iter_mut().take(BUCKETS.len()).enumerate() {
            if across_at == Some(BUCKETS[i]) {
                write_group(None, &across, &self.paint, out)?;
            }
            let mut extra = joined.range((i, 0)..(i + 1, 0)).peekable();
            while part.read(file)? {
                while let Some((_, group)) = extra.next_if(|((_, id), _)| *id < part.id) {
                    out.write_all(group)?;
                }
                if !self.late.contains_key(&part.id) {
                    part.write(out)?;
                }
            }
            for (_, group) in extra {
                out.write_all(group)?;
            }
        }
        Ok(())
    }

    /// The ladders of `--ladder`, in exchange order.
    pub fn write_ladders(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let Some(file) = self.ladders.take() else {
            return Ok(());
        };
        if self.late_from == LateFrom::FirstRead {
            return copy_back(file, out);
        }
        let mut file = read_back(file)?;
        let drawn = DrawnLadder {
            paint: &self.paint,
            width: self.width,
        };
        let mut record = SpooledLadder::default();
        while record.read(&mut file)? {
            match self.late.get(&record.id) {
                Some(late) => {
                    let mut l = match record.encoded {
                        true => ladder::Ladder::decode(&record.ladder).ok_or_else(|| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                "a ladder of --ladder read back is not one",
                            )
                        })?,
                        false => match self.unencoded.remove(&record.id) {
                            Some(l) => l,
                            None => continue,
                        },
                    };
                    ladder::mark(&mut l, late);
                    out.write_all(&record.title)?;
                    drawn.body(&l, out)?;
                }
                None => {
                    out.write_all(&record.title)?;
                    out.write_all(&record.drawn)?;
                }
            }
        }
        Ok(())
    }
}

/// How ladders are drawn in this view.
struct DrawnLadder<'p> {
    paint: &'p Paint,
    width: usize,
}

impl DrawnLadder<'_> {
    /// The ladder's lines and the blank line after them.
    fn body(&self, l: &ladder::Ladder, out: &mut dyn Write) -> io::Result<()> {
        let style = ladder_style(self.paint.on);
        for line in ladder::ascii(l, self.width, &style) {
            writeln!(out, "{line}")?;
        }
        writeln!(out)
    }

    /// One exchange's ladder as [`SpooledLadder`] reads it back: the
    /// exchange id, the title line, the drawing, and whether the ladder
    /// is encoded, then the encoded ladder (or it waits in `unencoded`);
    /// numbers and parts as [`put_u64`] and [`put_part`] write them.
    fn spool(
        &self,
        ex: &AuthExchange,
        l: &ladder::Ladder,
        scratch: &mut Vec<u8>,
        unencoded: &mut HashMap<usize, ladder::Ladder>,
        file: &mut BufWriter<File>,
    ) -> io::Result<()> {
        let style = ladder_style(self.paint.on);
        scratch.clear();
        write_ladder(ex, l, self.paint, self.width, &style, scratch)?;
        let title = scratch
            .iter()
            .position(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        put_u64(file, ex.id as u64)?;
        put_part(file, &scratch[..title])?;
        put_part(file, &scratch[title..])?;
        scratch.clear();
        let encoded = l.encode(scratch).is_some();
        put_u64(file, u64::from(encoded))?;
        if encoded {
            put_part(file, scratch)?;
        } else {
            unencoded.insert(ex.id, l.clone());
        }
        Ok(())
    }
}

/// A ladder written by [`DrawnLadder::spool`], read back (buffers reused).
#[derive(Default)]
struct SpooledLadder {
    id: usize,
    title: Vec<u8>,
    drawn: Vec<u8>,
    encoded: bool,
    ladder: Vec<u8>,
}

impl SpooledLadder {
    /// The next ladder of `file`; false at its end.
    fn read(&mut self, file: &mut BufReader<File>) -> io::Result<bool> {
        if file.fill_buf()?.is_empty() {
            return Ok(false);
        }
        self.id = usize::try_from(read_u64(file)?).unwrap_or(usize::MAX);
        self.title.clear();
        read_part(file, &mut self.title)?;
        self.drawn.clear();
        read_part(file, &mut self.drawn)?;
        self.encoded = read_u64(file)? != 0;
        self.ladder.clear();
        if self.encoded {
            read_part(file, &mut self.ladder)?;
        }
        Ok(true)
    }
}

/// The spools' numbers: eight bytes, little-endian.
fn put_u64(file: &mut BufWriter<File>, n: u64) -> io::Result<()> {
    file.write_all(&n.to_le_bytes())
}

fn read_u64(file: &mut BufReader<File>) -> io::Result<u64> {
    let mut b = [0u8; 8];
    file.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// The spools' texts: their length, then their bytes.
fn put_part(file: &mut BufWriter<File>, part: &[u8]) -> io::Result<()> {
    put_u64(file, part.len() as u64)?;
    file.write_all(part)
}

/// Appends the next part of `file` to `to`: only the bytes that are
/// there (no allocation from a length read back).
fn read_part(file: &mut BufReader<File>, to: &mut Vec<u8>) -> io::Result<()> {
    let len = read_u64(file)?;
    let got = file.take(len).read_to_end(to)?;
    if got as u64 != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "a temporary file of --details or --ladder ends inside a part",
        ));
    }
    Ok(())
}

/// Where the capture-wide findings come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LateFrom {
    /// A first read, before any exchange ([`Spool::new`]).
    FirstRead,
    /// The end of the one read, still to come ([`Spool::in_one_read`]).
    End,
    /// The end of the one read, given.
    Given,
}

fn bucket_of(s: Severity) -> usize {
    BUCKETS
        .iter()
        .position(|&b| b == s)
        .unwrap_or(BUCKETS.len() - 1)
}

/// One group as [`Parts`] reads it back: the exchange id, the number of
/// findings and the head, then each finding as its severity's bucket and
/// its text (numbers and parts as [`put_u64`] and [`put_part`] write
/// them). The blank line that ends a group is not stored.
fn write_parts(
    ex: &AuthExchange,
    fs: &[&Finding],
    p: &Paint,
    scratch: &mut Vec<u8>,
    file: &mut BufWriter<File>,
) -> io::Result<()> {
    scratch.clear();
    write_group_head(Some(ex), p, scratch)?;
    put_u64(file, ex.id as u64)?;
    put_u64(file, fs.len() as u64)?;
    put_part(file, scratch)?;
    for f in fs {
        scratch.clear();
        write_finding(f, p, scratch)?;
        put_u64(file, bucket_of(f.severity) as u64)?;
        put_part(file, scratch)?;
    }
    Ok(())
}

/// A group written by [`write_parts`], read back (buffers reused).
#[derive(Default)]
struct Parts {
    id: usize,
    /// The head, then each finding's text.
    text: Vec<u8>,
    head: usize,
    findings: Vec<(Severity, Range<usize>)>,
}

impl Parts {
    /// The next group of `file`; false at its end.
    fn read(&mut self, file: &mut BufReader<File>) -> io::Result<bool> {
        if file.fill_buf()?.is_empty() {
            return Ok(false);
        }
        self.id = usize::try_from(read_u64(file)?).unwrap_or(usize::MAX);
        let n = read_u64(file)?;
        self.text.clear();
        self.findings.clear();
        read_part(file, &mut self.text)?;
        self.head = self.text.len();
        for _ in 0..n {
            let bucket = usize::try_from(read_u64(file)?).unwrap_or(usize::MAX);
            let start = self.text.len();
            read_part(file, &mut self.text)?;
            let severity = BUCKETS[bucket.min(BUCKETS.len() - 1)];
            self.findings.push((severity, start..self.text.len()));
        }
        Ok(true)
    }

    /// The group as the view prints it.
    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.text[..self.head])?;
        for (_, r) in &self.findings {
            out.write_all(&self.text[r.clone()])?;
        }
        writeln!(out)
    }

    /// The group with the capture-wide findings `late` about it, as the
    /// kept view prints it (its own findings, then those, most severe
    /// first by a stable sort), and the bucket of the most severe.
    fn joined(&self, late: &[Finding], p: &Paint) -> io::Result<(usize, Vec<u8>)> {
        let mut rendered = Vec::new();
        let mut late_parts = Vec::with_capacity(late.len());
        for f in late {
            let start = rendered.len();
            write_finding(f, p, &mut rendered)?;
            late_parts.push((f.severity, start..rendered.len()));
        }
        let mut all: Vec<(Severity, &[u8])> = (self.findings.iter())
            .map(|(s, r)| (*s, &self.text[r.clone()]))
            .chain(late_parts.iter().map(|(s, r)| (*s, &rendered[r.clone()])))
            .collect();
        all.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
        let mut group = self.text[..self.head].to_vec();
        for (_, t) in &all {
            group.extend_from_slice(t);
        }
        group.push(b'\n');
        let bucket = all
            .first()
            .map_or(BUCKETS.len() - 1, |(s, _)| bucket_of(*s));
        Ok((bucket, group))
    }
}

fn read_back(file: BufWriter<File>) -> io::Result<BufReader<File>> {
    let mut file = file.into_inner().map_err(|e| e.into_error())?;
    file.rewind()?;
    Ok(BufReader::with_capacity(1 << 16, file))
}

fn copy_back(file: BufWriter<File>, out: &mut dyn Write) -> io::Result<()> {
    let mut file = file.into_inner().map_err(|e| e.into_error())?;
    file.rewind()?;
    io::copy(&mut BufReader::with_capacity(1 << 16, file), out)?;
    Ok(())
}
