//! The allocator of the command line: mimalloc 2 (the crate's `v2`),
//! which takes a sixth to a third less CPU time than glibc's malloc for a
//! whole run (an exchange is a few dozen short-lived allocations;
//! docs/performance.md), set to give freed memory back to the system
//! within two milliseconds. With its defaults (arenas committed eagerly,
//! freed pages purged 10 ms after the last free nearby) the peak RSS of a
//! 200 MB run was 69-75 MiB; with [`return_memory_promptly`] it is 52-55
//! MiB. (mimalloc 3, the crate's default, took the same time and 4 MiB
//! more than version 2, and grew more on long captures.)
//!
//! The binary and the stage bench install it ([`crate::install_allocator!`] in
//! `src/main.rs` and `benches/stages.rs`); the library's tests and the
//! fuzz targets run on the system allocator.

use std::os::raw::{c_int, c_long};

pub use mimalloc::MiMalloc;

/// Options of the mimalloc bundled with the locked `libmimalloc-sys`
/// (its v2 `mi_option_e`); a test checks that they are the options
/// meant, by their defaults.
const ARENA_EAGER_COMMIT: c_int = 4;
const PURGE_DELAY: c_int = 15;
const PURGE_EXTEND_DELAY: c_int = 25;

/// Milliseconds freed pages wait before they go back to the system. At 0
/// every page emptied was given back and faulted in again for the next
/// exchanges (a run spent about a tenth of its CPU time in `madvise` and
/// page faults); at 2 most are used again first, for about 1.5 MiB more
/// (docs/performance.md, "Purging after two milliseconds").
const PURGE_DELAY_MS: c_long = 2;

extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
}

/// Freed memory goes back to the system after `PURGE_DELAY_MS` (2 ms)
/// (`purge_delay`), counted from the first free of the pages purged
/// together (`purge_extend_delay` 0: by default each further free there
/// postpones the purge, which under a steady stream of frees held 4-8
/// MiB more), and arenas are committed as they are used
/// (`arena_eager_commit` 0), so that a purge decommits pages instead of
/// leaving them resident. Must run
/// before the first allocation, which reserves the first arena: the
/// binary runs it from the ELF initialisers, before Rust's runtime starts
/// (from `main` it comes too late for the arena already reserved; with
/// mimalloc 3 that left 78 instead of 58 MiB on a 200 MB run).
pub extern "C" fn return_memory_promptly() {
    // SAFETY: plain setters of mimalloc's global options, valid at any
    // time and from any thread.
    unsafe {
        mi_option_set(ARENA_EAGER_COMMIT, 0);
        mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
        mi_option_set(PURGE_EXTEND_DELAY, 0);
    }
}

/// Makes mimalloc the allocator of the binary or bench it is written in,
/// with [`return_memory_promptly`] run by the loader before `main` and
/// before the runtime's first allocation (on Linux; elsewhere call it
/// first thing in `main`).
#[macro_export]
macro_rules! install_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::allocator::MiMalloc = $crate::allocator::MiMalloc;

        #[cfg(target_os = "linux")]
        #[used]
        #[link_section = ".init_array"]
        static SET_UP_ALLOCATOR: extern "C" fn() = $crate::allocator::return_memory_promptly;
    };
}

/// The current value of the three options (for tests and diagnostics).
pub fn options() -> (c_long, c_long, c_long) {
    // SAFETY: plain getters of mimalloc's global options.
    unsafe {
        (
            mi_option_get(ARENA_EAGER_COMMIT),
            mi_option_get(PURGE_DELAY),
            mi_option_get(PURGE_EXTEND_DELAY),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_numbers_are_the_options_meant() {
        // The defaults of the bundled source (v2/src/options.c):
        // arena_eager_commit 2 (only on overcommit systems), purge_delay
        // 10 ms, purge_extend_delay 1 ms. The options around the first
        // two have other defaults (0, 1 or 100); the one before the third
        // (arena_purge_mult) is 10, so a shifted numbering would show. The
        // test process has not set them.
        const ARENA_PURGE_MULT: c_int = PURGE_EXTEND_DELAY - 1;
        // SAFETY: a plain getter of mimalloc's global options.
        assert_eq!(unsafe { mi_option_get(ARENA_PURGE_MULT) }, 10);
        assert_eq!(options(), (2, 10, 1));
        return_memory_promptly();
        assert_eq!(options(), (0, PURGE_DELAY_MS, 0));
    }
}
