//! What the reports written from exchanges as they finish (the text view,
//! Markdown and HTML) keep of every exchange: counts by outcome, the
//! account table, each exchange's method; and the bit sets they mark
//! exchanges and frames in.

use super::AccountBook;
use crate::correlate::AuthExchange;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

/// The counts every streamed report takes of each finished exchange.
pub struct ExchangeCounts {
    pub exchanges: usize,
    pub by_outcome: BTreeMap<&'static str, usize>,
    /// Which account each exchange is in (not the list of an account's
    /// exchanges: no streamed report asks for it).
    pub book: AccountBook,
    pub methods: ExchangeMethods,
}

impl Default for ExchangeCounts {
    fn default() -> Self {
        ExchangeCounts {
            exchanges: 0,
            by_outcome: BTreeMap::new(),
            book: AccountBook::new(false),
            methods: ExchangeMethods::default(),
        }
    }
}

impl ExchangeCounts {
    /// Counts a finished exchange; returns the number of its account
    /// ([`AccountBook::account_of`]).
    pub fn exchange(&mut self, ex: &AuthExchange) -> Option<usize> {
        self.exchanges += 1;
        *self.by_outcome.entry(ex.outcome.as_str()).or_insert(0) += 1;
        self.book.exchange(ex);
        self.methods.record(ex);
        self.book.account_of(ex.id)
    }
}

/// The `i`th entry of per-account notes, added (default) when missing.
pub fn notes_of<T: Default>(notes: &mut Vec<T>, i: usize) -> &mut T {
    if i >= notes.len() {
        notes.resize_with(i + 1, T::default);
    }
    &mut notes[i]
}

/// The method of every exchange: a byte each for the first 255 distinct
/// methods, the method itself for an exchange with another (a crafted
/// capture). A verdict names the method of the exchange an account's
/// worst finding is about, which a capture-wide rule can name long after
/// the exchange was counted.
#[derive(Default)]
pub struct ExchangeMethods {
    names: Vec<String>,
    /// By exchange id: 1 + the method's place in `names`; 0 for others.
    by_exchange: Vec<u8>,
    others: HashMap<usize, Box<str>>,
}

impl ExchangeMethods {
    pub fn record(&mut self, ex: &AuthExchange) {
        let code = match self.names.iter().position(|m| *m == ex.method) {
            Some(i) => i + 1,
            None if self.names.len() < usize::from(u8::MAX) => {
                self.names.push(ex.method.to_string());
                self.names.len()
            }
            None => {
                self.others.insert(ex.id, ex.method.as_str().into());
                0
            }
        };
        let Some(len) = ex.id.checked_add(1) else {
            return;
        };
        if self.by_exchange.len() < len {
            self.by_exchange.resize(len, 0);
        }
        self.by_exchange[ex.id] = u8::try_from(code).unwrap_or(0);
    }

    pub fn of(&self, exchange: usize) -> Option<&str> {
        match self.by_exchange.get(exchange).copied() {
            Some(code) if code > 0 => self.names.get(usize::from(code) - 1).map(String::as_str),
            _ => self.others.get(&exchange).map(|m| &**m),
        }
    }
}

/// Numbers in a block of [`IdSet`].
const BLOCK_BITS: u64 = 1024;

/// Distinct numbers (exchange ids, frame numbers), one bit each in blocks
/// allocated as numbers arrive: memory follows the numbers seen (an eighth
/// of a byte each when they are dense), never a length read from the
/// input; listed in ascending order.
#[derive(Clone, Default)]
pub struct IdSet {
    blocks: BTreeMap<u64, Box<[u64; (BLOCK_BITS / 64) as usize]>>,
    len: usize,
}

impl IdSet {
    pub fn insert(&mut self, n: u64) {
        let block = self
            .blocks
            .entry(n / BLOCK_BITS)
            .or_insert_with(|| Box::new([0; (BLOCK_BITS / 64) as usize]));
        let bit = n % BLOCK_BITS;
        let word = &mut block[(bit / 64) as usize];
        let mask = 1u64 << (bit % 64);
        if *word & mask == 0 {
            *word |= mask;
            self.len += 1;
        }
    }

    pub fn contains(&self, n: u64) -> bool {
        let bit = n % BLOCK_BITS;
        self.blocks
            .get(&(n / BLOCK_BITS))
            .is_some_and(|block| block[(bit / 64) as usize] & (1u64 << (bit % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.blocks.iter().flat_map(|(&block, words)| {
            words.iter().enumerate().flat_map(move |(i, &word)| {
                let base = block * BLOCK_BITS + i as u64 * 64;
                ones(word).map(move |b| base + b)
            })
        })
    }
}

/// The positions of the bits set in a word, lowest first.
fn ones(mut word: u64) -> impl Iterator<Item = u64> {
    std::iter::from_fn(move || {
        (word != 0).then(|| {
            let b = u64::from(word.trailing_zeros());
            word &= word - 1;
            b
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_set_counts_distinct_numbers_in_order() {
        let mut s = IdSet::default();
        for n in [5, 3, 5, 4000, 0, u64::MAX, 1023, 1024] {
            s.insert(n);
        }
        assert_eq!(s.len(), 7);
        let v: Vec<u64> = s.iter().collect();
        assert_eq!(v, [0, 3, 5, 1023, 1024, 4000, u64::MAX]);
        for n in [0, 3, 5, 1023, 1024, 4000, u64::MAX] {
            assert!(s.contains(n), "{n}");
        }
        for n in [1, 4, 1022, 1025, 3999, u64::MAX - 1] {
            assert!(!s.contains(n), "{n}");
        }
    }

    #[test]
    fn notes_grow_to_the_account_asked_for() {
        let mut v: Vec<u8> = Vec::new();
        *notes_of(&mut v, 2) = 7;
        assert_eq!(v, [0, 0, 7]);
        *notes_of(&mut v, 0) = 1;
        assert_eq!(v, [1, 0, 7]);
    }
}
