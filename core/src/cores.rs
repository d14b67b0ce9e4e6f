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

/// Returns `f` of each item, in order, computed on up to 16 threads (one when there is
/// one core or fewer than 64 items). A panic in `f` is passed on, never turned into a
/// missing result.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    run(items.chunks(items.len().div_ceil(threads)), |part| {
        part.iter().map(&f).collect()
    })
}

/// [`map`] over owned items, each handed to `f` by value.
pub fn map_owned<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    map_owned_with(items, || (), |_, item| f(item))
}

/// [`map_owned`] with a state each thread makes once with `init` and hands to `f` with
/// every item of its share (a buffer the items are read into, say).
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
    let chunk = items.len().div_ceil(threads);
    let mut parts: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let part: Vec<T> = items.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    run(parts, |part| {
        let mut state = init();
        part.into_iter().map(|item| f(&mut state, item)).collect()
    })
}

/// Runs `work` on each part on a thread of its own; the results, in the parts' order.
fn run<P: Send, R: Send>(
    parts: impl IntoIterator<Item = P>,
    work: impl Fn(P) -> Vec<R> + Sync,
) -> Vec<R> {
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
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
        }
    }
}
