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
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, Write};

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
    match ex {
        Some(ex) => {
            writeln!(
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
            )?;
        }
        None => writeln!(out, "{}", p.bold("Across exchanges"))?,
    }
    for f in fs {
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
        writeln!(out, "      {} {}", p.bold("fix:"), term(&f.fix))?;
    }
    writeln!(out)
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
/// the order the kept view prints. The findings of the capture-wide rules
/// come from a first read of the capture ([`Spool::new`]): an exchange's
/// group and ladder are complete when it is written.
pub struct Spool {
    details: bool,
    ladder: bool,
    paint: Paint,
    width: usize,
    /// Capture-wide findings about one exchange, by exchange.
    late: HashMap<usize, Vec<Finding>>,
    /// Capture-wide findings about no single exchange.
    across: Vec<Finding>,
    buckets: Vec<BufWriter<File>>,
    ladders: Option<BufWriter<File>>,
    /// The first write error; later writes are not attempted.
    error: Option<io::Error>,
}

impl Spool {
    /// `capture_wide`: the findings about the capture as a whole, from a
    /// first read of the same capture; the error when no temporary file
    /// can be made.
    pub fn new(o: &TextOptions, capture_wide: Vec<Finding>) -> io::Result<Spool> {
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
        let mut late: HashMap<usize, Vec<Finding>> = HashMap::new();
        let mut across = Vec::new();
        for f in capture_wide {
            match f.exchange {
                Some(id) => late.entry(id).or_default().push(f),
                None => across.push(f),
            }
        }
        Ok(Spool {
            details: o.details,
            ladder: o.ladder,
            paint: Paint { on: o.color },
            width: usize::from(o.width.clamp(40, MAX_WIDTH)),
            late,
            across,
            buckets,
            ladders,
            error: None,
        })
    }

    /// A finished exchange with the findings of the per-exchange rules.
    pub fn exchange(&mut self, ex: &AuthExchange, findings: &[Finding]) {
        if self.error.is_some() {
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
                let b = BUCKETS.iter().position(|&s| s == worst).unwrap_or(3);
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

    /// The groups of `--details`, most severe first.
    pub fn write_details(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut across: Vec<&Finding> = self.across.iter().collect();
        across.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let across_at = across.first().map(|f| f.severity);
        for (i, bucket) in std::mem::take(&mut self.buckets).into_iter().enumerate() {
            if across_at == Some(BUCKETS[i]) {
                write_group(None, &across, &self.paint, out)?;
            }
            copy_back(bucket, out)?;
        }
        Ok(())
    }

    /// The ladders of `--ladder`, in exchange order.
    pub fn write_ladders(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        match self.ladders.take() {
            Some(l) => copy_back(l, out),
            None => Ok(()),
        }
    }
}

fn copy_back(file: BufWriter<File>, out: &mut dyn Write) -> io::Result<()> {
    let mut file = file.into_inner().map_err(|e| e.into_error())?;
    file.rewind()?;
    io::copy(&mut BufReader::with_capacity(1 << 16, file), out)?;
    Ok(())
}
