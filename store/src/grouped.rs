//! Calls served in groups. One background task serves together every call
//! made while it was serving the previous group, so concurrent callers
//! share one round trip and one commit instead of paying one each; each
//! caller waits for its own answer. Nothing waits on a timer: a call made
//! while nothing is in flight and nobody waits is served at once, as a
//! group of one, on the caller's own task (no hand-over to the group's
//! task and back, which on a quiet door was two thread wake-ups per call).
//!
//! The run engine opens and ends the runs a worker executes concurrently
//! this way (`run_groups`).

use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// A call and where its answer goes.
type Call<Req, Resp> = (Req, oneshot::Sender<Resp>);

/// What serves a group.
type Serve<Req, Resp> = Arc<dyn Fn(Vec<Req>) -> BoxFuture<'static, Vec<Resp>> + Send + Sync>;

pub struct Grouped<Req, Resp> {
    tx: mpsc::Sender<Call<Req, Resp>>,
    flights: Arc<Semaphore>,
    serve: Serve<Req, Resp>,
}

impl<Req, Resp> Clone for Grouped<Req, Resp> {
    fn clone(&self) -> Self {
        Grouped { tx: self.tx.clone(), flights: self.flights.clone(), serve: self.serve.clone() }
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Grouped<Req, Resp> {
    /// Starts the task on the current runtime; it ends when the last handle
    /// is dropped. A group holds at most `most` calls, and at most `flights`
    /// groups are served at once (calls made while all are in flight wait
    /// and form the next group); `serve` answers every call of a group, in
    /// order. A panic in `serve` loses that group's answers (its callers
    /// hear `None`), not the task.
    pub fn start<F, Fut>(most: usize, flights: usize, serve: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Resp>> + Send + 'static,
    {
        let most = most.max(1);
        let (tx, mut rx) = mpsc::channel::<Call<Req, Resp>>(most);
        let flights = Arc::new(Semaphore::new(flights.max(1)));
        let serve: Serve<Req, Resp> = Arc::new(move |requests| serve(requests).boxed());
        let handle = Grouped { tx, flights: flights.clone(), serve: serve.clone() };
        tokio::spawn(async move {
            let mut calls = Vec::with_capacity(most);
            loop {
                let Ok(flight) = flights.clone().acquire_owned().await else { return };
                if rx.recv_many(&mut calls, most).await == 0 {
                    return;
                }
                let (requests, replies): (Vec<Req>, Vec<oneshot::Sender<Resp>>) =
                    std::mem::take(&mut calls).into_iter().unzip();
                let serve = serve.clone();
                let served = tokio::spawn(serve(requests));
                tokio::spawn(async move {
                    // Served on a task of its own, so that a panic ends that task only.
                    match served.await {
                        Ok(answers) => {
                            for (reply, answer) in replies.into_iter().zip(answers) {
                                let _ = reply.send(answer);
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "a group of calls failed; its callers are told"),
                    }
                    drop(flight);
                });
            }
        });
        handle
    }

    /// Whether the task is gone (its runtime stopped): calls would go unanswered.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The call's answer. None: its group was lost (a panic) or the task is
    /// gone (its runtime is shutting down).
    pub async fn call(&self, request: Req) -> Option<Resp> {
        // The group's task, idle, holds one flight while it waits for calls; a
        // second one free and nobody queued: this call is a group of one now.
        if self.tx.capacity() == self.tx.max_capacity() {
            if let Ok(flight) = self.flights.clone().try_acquire_owned() {
                let served = std::panic::AssertUnwindSafe((self.serve)(vec![request])).catch_unwind().await;
                drop(flight);
                // A panic loses this call's answer, as it loses a group's.
                return served.ok().and_then(|mut answers| answers.pop());
            }
        }
        let (reply, answer) = oneshot::channel();
        self.tx.send((request, reply)).await.ok()?;
        answer.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn concurrent_calls_share_groups_and_each_hears_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let grouped = Grouped::start(16, 1, {
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
    async fn a_call_made_while_nothing_is_in_flight_is_served_on_the_callers_own_task() {
        let grouped = Grouped::start(4, 2, |numbers: Vec<u32>| async move {
            assert!(!numbers.contains(&13), "thirteen is refused");
            let task = tokio::task::try_id();
            numbers.into_iter().map(|n| (n, task)).collect::<Vec<_>>()
        });
        let caller = tokio::spawn({
            let grouped = grouped.clone();
            async move { (tokio::task::id(), grouped.call(7).await) }
        });
        let (caller, answer) = caller.await.unwrap();
        assert_eq!(answer, Some((7, Some(caller))), "served at once, on the caller's task");
        assert_eq!(grouped.call(13).await, None, "a panic there is heard as a lost answer");
        assert_eq!(grouped.call(8).await.map(|(n, _)| n), Some(8), "and the next call is served");
    }

    #[tokio::test]
    async fn a_panic_loses_its_group_not_the_task() {
        let grouped = Grouped::start(4, 1, |numbers: Vec<u32>| async move {
            assert!(!numbers.contains(&13), "thirteen is refused");
            numbers
        });
        assert_eq!(grouped.call(13).await, None, "the panicking group's caller hears None");
        assert_eq!(grouped.call(7).await, Some(7), "the next call is served");
    }
}
