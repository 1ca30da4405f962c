//! Calls served in groups. Every call made while a group is being served
//! waits and goes with the next group, so concurrent callers share one
//! round trip and one commit instead of paying one each; each caller waits
//! for its own answer. Nothing waits on a timer: a call made while fewer
//! than `flights` groups are being served starts a flight at once.
//!
//! A flight is a task on the runtime of the call that started it, and it
//! serves the calls that queued meanwhile before it ends. There is no
//! task of the group's own: on actix-web, whose workers each run a runtime
//! of their own, a call is served on its own worker's thread (until the
//! twenty-third session one task on the runtime that first used the group
//! served every group, and a call from another worker crossed threads
//! twice, waiting behind that worker's requests each way).
//!
//! The run engine opens and ends the runs a worker executes concurrently
//! this way (`run_groups`), and the door writes accepted events
//! (`accept_groups`).

use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// A call and where its answer goes.
type Call<Req, Resp> = (Req, oneshot::Sender<Resp>);

/// What serves a group.
type Serve<Req, Resp> = Arc<dyn Fn(Vec<Req>) -> BoxFuture<'static, Vec<Resp>> + Send + Sync>;

pub struct Grouped<Req, Resp> {
    shared: Arc<Shared<Req, Resp>>,
}

impl<Req, Resp> Clone for Grouped<Req, Resp> {
    fn clone(&self) -> Self {
        Grouped { shared: self.shared.clone() }
    }
}

struct Shared<Req, Resp> {
    queue: Mutex<Queue<Req, Resp>>,
    most: usize,
    flights: usize,
    serve: Serve<Req, Resp>,
}

/// The calls waiting for a flight, and how many flights are under way.
/// Calls wait only while every flight is under way.
struct Queue<Req, Resp> {
    waiting: VecDeque<Call<Req, Resp>>,
    flying: usize,
}

impl<Req: Send + 'static, Resp: Send + 'static> Grouped<Req, Resp> {
    /// A group holds at most `most` calls, and at most `flights` groups are
    /// served at once (calls made while all are in flight wait and form
    /// the next group); `serve` answers every call of a group, in order. A
    /// panic in `serve` loses that group's answers (its callers hear
    /// `None`), not the flight.
    pub fn new<F, Fut>(most: usize, flights: usize, serve: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Resp>> + Send + 'static,
    {
        let serve: Serve<Req, Resp> = Arc::new(move |requests| serve(requests).boxed());
        let queue = Mutex::new(Queue { waiting: VecDeque::new(), flying: 0 });
        Grouped { shared: Arc::new(Shared { queue, most: most.max(1), flights: flights.max(1), serve }) }
    }

    /// The call's answer. None: its group was lost (a panic, or the runtime
    /// of the flight that took it shutting down).
    pub async fn call(&self, request: Req) -> Option<Resp> {
        let (reply, answer) = oneshot::channel();
        let group = {
            let mut queue = self.shared.lock();
            queue.waiting.push_back((request, reply));
            match queue.flying < self.shared.flights {
                true => {
                    queue.flying += 1;
                    Some(self.shared.next_group(&mut queue))
                }
                false => None,
            }
        };
        if let Some(group) = group {
            // A task of its own, so that the caller going away (a sender that hung up) does
            // not take the other callers' group with it.
            tokio::spawn(Flight { shared: Some(self.shared.clone()) }.fly(group));
        }
        answer.await.ok()
    }
}

impl<Req, Resp> Shared<Req, Resp> {
    fn lock(&self) -> MutexGuard<'_, Queue<Req, Resp>> {
        // A poisoned lock only means a panic elsewhere while it was held; the queue is whole.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn next_group(&self, queue: &mut Queue<Req, Resp>) -> Vec<Call<Req, Resp>> {
        let n = queue.waiting.len().min(self.most);
        queue.waiting.drain(..n).collect()
    }
}

/// One flight: serves its group, then the calls that queued meanwhile,
/// until none wait. However it ends (a runtime that shuts down drops it
/// mid-group), its place is given back and nobody is left waiting for it.
struct Flight<Req, Resp> {
    shared: Option<Arc<Shared<Req, Resp>>>,
}

impl<Req, Resp> Flight<Req, Resp> {
    async fn fly(mut self, mut group: Vec<Call<Req, Resp>>) {
        let Some(shared) = self.shared.clone() else { return };
        loop {
            let (requests, replies): (Vec<Req>, Vec<oneshot::Sender<Resp>>) = group.into_iter().unzip();
            match std::panic::AssertUnwindSafe((shared.serve)(requests)).catch_unwind().await {
                Ok(answers) => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(answer);
                    }
                }
                Err(_) => {
                    drop(replies);
                    tracing::error!("a group of calls failed; its callers are told")
                }
            }
            let mut queue = shared.lock();
            if queue.waiting.is_empty() {
                queue.flying -= 1;
                self.shared = None;
                return;
            }
            group = shared.next_group(&mut queue);
        }
    }
}

impl<Req, Resp> Drop for Flight<Req, Resp> {
    fn drop(&mut self) {
        // Dropped mid-flight: another flight takes the calls that wait; with none left they
        // would wait for nothing, so they hear `None` (their senders dropped).
        if let Some(shared) = self.shared.take() {
            let mut queue = shared.lock();
            queue.flying -= 1;
            if queue.flying == 0 {
                queue.waiting.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn concurrent_calls_share_groups_and_each_hears_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let grouped = Grouped::new(16, 1, {
            let sizes = sizes.clone();
            move |numbers: Vec<u32>| {
                sizes.lock().unwrap().push(numbers.len());
                async move {
                    // Long enough for the other callers to queue behind the first group.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    numbers.into_iter().map(|n| n * 10).collect::<Vec<_>>()
                }
            }
        });
        let calls: Vec<_> = (0..12u32)
            .map(|n| {
                let grouped = grouped.clone();
                tokio::spawn(async move { (n, grouped.call(n).await) })
            })
            .collect();
        for call in calls {
            let (n, answer) = call.await.unwrap();
            assert_eq!(answer, Some(n * 10), "call {n} hears its own answer");
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 12, "every call was served once: {sizes:?}");
        assert!(sizes.len() < 12, "calls made while a group was in flight were served together: {sizes:?}");
    }

    #[tokio::test]
    async fn a_call_is_served_on_its_own_runtime_even_when_the_one_that_made_the_group_is_gone() {
        // Made on a runtime of its own (an actix worker that first read the workflow), which then stops.
        let grouped = std::thread::spawn(|| {
            let elsewhere = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            elsewhere.block_on(async {
                Grouped::new(4, 2, |numbers: Vec<u32>| async move {
                    let thread = std::thread::current().id();
                    numbers.into_iter().map(|n| (n, thread)).collect::<Vec<_>>()
                })
            })
        })
        .join()
        .unwrap();
        let here = std::thread::current().id();
        assert_eq!(grouped.call(7).await, Some((7, here)), "served, on the caller's own thread");
        assert_eq!(grouped.call(8).await, Some((8, here)), "and again");
    }

    #[tokio::test]
    async fn a_flight_dropped_with_its_runtime_leaves_no_call_waiting_for_good() {
        let grouped = Grouped::new(4, 1, |numbers: Vec<u32>| async move {
            if numbers.contains(&99) {
                // Never answered: the runtime serving it stops first.
                futures::future::pending::<()>().await;
            }
            numbers
        });
        let elsewhere = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let stuck = elsewhere.spawn({
            let grouped = grouped.clone();
            async move { grouped.call(99).await }
        });
        let settle = |what: fn(&Queue<u32, u32>) -> bool| {
            let grouped = grouped.clone();
            async move {
                for _ in 0..500 {
                    if what(&grouped.shared.lock()) {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                panic!("the queue never settled");
            }
        };
        settle(|q| q.flying == 1).await;
        let waiting = tokio::spawn({
            let grouped = grouped.clone();
            async move { grouped.call(5).await }
        });
        settle(|q| q.waiting.len() == 1).await;
        elsewhere.shutdown_background();
        let heard = tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await;
        assert_eq!(heard.expect("the waiting call was told").unwrap(), None, "its flight was lost, and it hears so");
        assert!(stuck.await.is_err(), "the stuck call went with its runtime");
        assert_eq!(grouped.call(6).await, Some(6), "the next call starts a flight of its own");
    }

    #[tokio::test]
    async fn a_panic_loses_its_group_not_the_flight() {
        let grouped = Grouped::new(4, 1, |numbers: Vec<u32>| async move {
            assert!(!numbers.contains(&13), "thirteen is refused");
            numbers
        });
        assert_eq!(grouped.call(13).await, None, "the panicking group's caller hears None");
        assert_eq!(grouped.call(7).await, Some(7), "the next call is served");
    }
}
