//! Work spread over every core: the record and signature checks of `list`, `check` and
//! `audit verify --every-signature`, each item independent of the others.

/// How many threads share `len` items: one per core (at most 16), one when there is
/// one core or fewer than 64 items.
fn threads(len: usize) -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(16);
    if len < 64 { 1 } else { cores }
}

/// How many parts `threads` threads share `len` items in: several per thread, so that
/// a thread whose items cost more (a file not in the page cache, a core taken by
/// another process) does not leave the others waiting at the end; each part at least
/// 16 items.
fn parts(len: usize, threads: usize) -> usize {
    (threads * 16).min(len.div_ceil(16)).max(1)
}

/// Returns `f` of each item, in order, computed on up to 16 threads (one when there is
/// one core or fewer than 64 items). A panic in `f` is passed on, never turned into a
/// missing result.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let size = items.len().div_ceil(parts(items.len(), threads));
    run(
        items.chunks(size).collect(),
        threads,
        || (),
        |_, part: &[T]| part.iter().map(&f).collect(),
    )
}

/// [`map`] over owned items, each handed to `f` by value.
pub fn map_owned<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    map_owned_with(items, || (), |_, item| f(item))
}

/// [`map_owned`] with a state each thread makes once with `init` and hands to `f` with
/// every item it takes (a buffer the items are read into, say).
pub fn map_owned_with<T: Send, S, R: Send>(
    items: Vec<T>,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, T) -> R + Sync,
) -> Vec<R> {
    let threads = threads(items.len());
    if threads <= 1 {
        let mut state = init();
        return items.into_iter().map(|item| f(&mut state, item)).collect();
    }
    let size = items.len().div_ceil(parts(items.len(), threads));
    let mut parts: Vec<Vec<T>> = Vec::with_capacity(items.len().div_ceil(size));
    let mut items = items.into_iter();
    loop {
        let part: Vec<T> = items.by_ref().take(size).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    run(parts, threads, init, |state, part: Vec<T>| {
        part.into_iter().map(|item| f(state, item)).collect()
    })
}

/// `f` of each part of `0..len`, in order, computed on up to 16 threads as [`map`]
/// shares items out: for work done a range at a time (each part written into a buffer
/// of its own, say).
pub fn map_ranges<R: Send>(len: usize, f: impl Fn(std::ops::Range<usize>) -> R + Sync) -> Vec<R> {
    let threads = threads(len);
    if threads <= 1 {
        return vec![f(0..len)];
    }
    let size = len.div_ceil(parts(len, threads));
    let ranges: Vec<std::ops::Range<usize>> = (0..len)
        .step_by(size)
        .map(|start| start..(start + size).min(len))
        .collect();
    run(ranges, threads, || (), |_, r| vec![f(r)])
}

/// Runs `work` on each part, on `threads` threads (the calling one among them), each
/// taking the next part not yet taken when it is done with one, with a state of its own
/// made by `init`; the results, in the parts' order.
fn run<P: Send, S, R: Send>(
    parts: Vec<P>,
    threads: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, P) -> Vec<R> + Sync,
) -> Vec<R> {
    let count = parts.len();
    let queue = std::sync::Mutex::new(parts.into_iter().enumerate());
    let worker = || {
        let mut state = init();
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            // The lock is held to take a part, not to work on it: a panic in `work`
            // cannot poison it, and taking a part cannot panic.
            let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
            let Some((i, part)) = next else { break };
            done.push((i, work(&mut state, part)));
        }
        done
    };
    let mut done: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mut done = worker();
        for h in others {
            done.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        done
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    debug_assert_eq!(done.len(), count);
    done.into_iter().flat_map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_back_in_order_whatever_the_split() {
        for n in [0usize, 1, 63, 64, 65, 1000] {
            let items: Vec<usize> = (0..n).collect();
            assert_eq!(
                super::map(&items, |i| i * 2),
                items.iter().map(|i| i * 2).collect::<Vec<_>>()
            );
            assert_eq!(
                super::map_owned(items.clone(), |i| i * 2),
                items.iter().map(|i| i * 2).collect::<Vec<_>>()
            );
            // Each thread's state is its own: the count of items it saw so far.
            let counted = super::map_owned_with(
                items.clone(),
                || 0usize,
                |seen, i| {
                    *seen += 1;
                    (i, *seen)
                },
            );
            assert_eq!(counted.iter().map(|c| c.0).collect::<Vec<_>>(), items);
            assert!(counted.iter().all(|&(_, seen)| seen >= 1));
            assert_eq!(counted.first().map(|c| c.1), (n > 0).then_some(1));
            // The ranges cover 0..n, each once, in order.
            let ranges = super::map_ranges(n, |r| r);
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert_eq!(ranges.last().map(|r| r.end), Some(n));
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        }
    }
}
