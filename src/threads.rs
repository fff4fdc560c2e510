//! Work handed to a thread of its own within a scope, or given back to
//! the caller when no thread can be had (it then does the work itself).

use std::sync::{Arc, Mutex};
use std::thread::{Builder, Scope, ScopedJoinHandle};

/// Runs `work(value)` on a new thread named `name` within `scope`. When
/// the thread cannot be started, `value` comes back (`Err`), so nothing is
/// lost: the caller runs the work on its own thread.
pub(crate) fn spawn_or_give_back<'scope, T, R>(
    scope: &'scope Scope<'scope, '_>,
    name: &str,
    value: T,
    work: impl FnOnce(T) -> R + Send + 'scope,
) -> Result<ScopedJoinHandle<'scope, R>, T>
where
    T: Send + 'scope,
    R: Send + 'scope,
{
    // Taken by the thread once it runs; still here if it never does (a
    // failed spawn drops the closure, and the value would go with it).
    let waiting = Arc::new(Mutex::new(Some(value)));
    let theirs = Arc::clone(&waiting);
    let take = |w: &Mutex<Option<T>>| w.lock().unwrap_or_else(|p| p.into_inner()).take();
    match Builder::new()
        .name(name.into())
        .spawn_scoped(scope, move || {
            match take(&theirs) {
                Some(v) => work(v),
                // Only a failed spawn takes it back, and then this never runs.
                None => unreachable!("the value is the thread's once it runs"),
            }
        }) {
        Ok(handle) => Ok(handle),
        Err(_) => match take(&waiting) {
            Some(v) => Err(v),
            None => unreachable!("a thread that did not start took nothing"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_runs_on_another_thread_and_returns_its_result() {
        let here = std::thread::current().id();
        std::thread::scope(|s| {
            let h = spawn_or_give_back(s, "helper", 20, |v| {
                (
                    v + 1,
                    std::thread::current().id(),
                    std::thread::current().name().map(String::from),
                )
            });
            let Ok(h) = h else {
                panic!("a thread can be had in tests");
            };
            let (r, id, name) = h.join().unwrap();
            assert_eq!(r, 21);
            assert_ne!(id, here);
            assert_eq!(name.as_deref(), Some("helper"));
        });
    }
}
