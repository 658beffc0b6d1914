//! Group commit: concurrent callers whose writes are small and independent
//! share one transaction, and so one commit (one WAL flush on PostgreSQL,
//! one write lock on SQLite), while each caller still returns only after
//! its own write is committed.
//!
//! A caller queues its item and then waits for either its answer or the
//! writer lock. Whoever gets the lock takes everything queued, writes it
//! (one call of the caller's `write`), and answers each item before
//! letting go. A caller answered meanwhile returns without taking the lock.
//! The write runs in a task of its own, so a caller that is dropped while
//! writing (a client that hung up) does not abort the others' writes.
//!
//! Written here: it is a queue, a lock and a oneshot per caller, and no
//! crate offers it for sqlx.

use std::future::Future;
use tokio::sync::oneshot;

pub struct GroupCommit<T, R> {
    queue: std::sync::Mutex<Vec<(T, oneshot::Sender<R>)>>,
    writer: tokio::sync::Mutex<()>,
}

impl<T, R> Default for GroupCommit<T, R> {
    fn default() -> Self {
        GroupCommit {
            queue: std::sync::Mutex::new(Vec::new()),
            writer: tokio::sync::Mutex::new(()),
        }
    }
}

/// The group's writer went away before answering (it panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unanswered;

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Writes `item` together with whatever else is queued. `write` gets
    /// the group in queue order and must give one answer per item, in the
    /// same order; it is called by whichever caller holds the writer, so
    /// every caller passes the same function.
    pub async fn submit<F, Fut>(&self, item: T, write: F) -> Result<R, Unanswered>
    where
        F: FnOnce(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (answer, mut answered) = oneshot::channel();
        self.lock_queue().push((item, answer));
        tokio::select! {
            // Written by another caller's group while this one waited.
            r = &mut answered => r.map_err(|_| Unanswered),
            _writer = self.writer.lock() => {
                let group = std::mem::take(&mut *self.lock_queue());
                if !group.is_empty() {
                    let (items, answers): (Vec<T>, Vec<oneshot::Sender<R>>) =
                        group.into_iter().unzip();
                    let written = tokio::spawn(write(items)).await;
                    if let Ok(results) = written {
                        for (a, r) in answers.into_iter().zip(results) {
                            // A caller that was dropped meanwhile no longer asks.
                            let _ = a.send(r);
                        }
                    }
                }
                // This item was in that group, or in an earlier one whose
                // writer answered before letting go of the lock.
                answered.await.map_err(|_| Unanswered)
            }
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<(T, oneshot::Sender<R>)>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    impl<T, R> GroupCommit<T, R> {
        fn queued(&self) -> usize {
            self.queue.lock().unwrap().len()
        }
    }

    /// While one caller's write is under way, 199 more arrive: they are
    /// written together in one more write, each item once, and each caller
    /// gets its own answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_arriving_during_a_write_share_the_next_one() {
        let g: Arc<GroupCommit<u32, u32>> = Arc::new(GroupCommit::default());
        let writes = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let submit = |i: u32, started: Option<tokio::sync::oneshot::Sender<()>>| {
            let (g, writes, written) = (g.clone(), writes.clone(), written.clone());
            tokio::spawn(async move {
                let queue = g.clone();
                g.submit(i, move |items| async move {
                    writes.fetch_add(1, Ordering::SeqCst);
                    if let Some(started) = started {
                        // The first write holds on until the others queue.
                        started.send(()).unwrap();
                        while queue.queued() < 199 {
                            tokio::task::yield_now().await;
                        }
                    }
                    written.lock().unwrap().extend(items.iter().copied());
                    items.iter().map(|x| x * 10).collect()
                })
                .await
            })
        };
        let (started, writing) = tokio::sync::oneshot::channel();
        let mut callers = vec![submit(0, Some(started))];
        writing.await.unwrap();
        callers.extend((1..200).map(|i| submit(i, None)));
        for (i, c) in callers.into_iter().enumerate() {
            assert_eq!(c.await.unwrap(), Ok(i as u32 * 10));
        }
        let mut all = written.lock().unwrap().clone();
        all.sort();
        assert_eq!(all, (0..200).collect::<Vec<_>>(), "each item written once");
        assert_eq!(writes.load(Ordering::SeqCst), 2, "the 199 shared one write");
    }

    /// A write that panics answers nobody: its callers learn it, and the
    /// next caller's write still goes through.
    #[tokio::test]
    async fn a_failed_writer_is_reported_and_does_not_block_the_next() {
        let g: GroupCommit<u32, u32> = GroupCommit::default();
        let r = g
            .submit(1, |_| async move {
                panic!("the database went away");
            })
            .await;
        assert_eq!(r, Err(Unanswered));
        let r = g
            .submit(
                2,
                |items| async move { items.iter().map(|x| x + 1).collect() },
            )
            .await;
        assert_eq!(r, Ok(3));
    }
}
