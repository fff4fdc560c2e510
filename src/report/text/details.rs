//! `--details`: every finding of every exchange, grouped by exchange, most
//! severe exchange first, each with its evidence, frames and fix.

use super::{frames, Paint};
use crate::analysis::Analysis;
use crate::report::endpoint;
use crate::report::sanitize::term;
use crate::rules::Finding;
use std::collections::HashMap;
use std::io::{self, Write};

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
        match exid.and_then(|id| lookup.exchange(id)) {
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
        writeln!(out)?;
    }
    Ok(())
}
