//! Calls served in groups. One background task serves together every call
//! made while it was serving the previous group, so concurrent callers
//! share one round trip and one commit instead of paying one each; each
//! caller waits for its own answer. Nothing waits on a timer: a call made
//! while the task is idle is served at once, as a group of one.
//!
//! The run engine opens and ends the runs a worker executes concurrently
//! this way (`run_groups`).

use std::future::Future;
use tokio::sync::{mpsc, oneshot};

/// A call and where its answer goes.
type Call<Req, Resp> = (Req, oneshot::Sender<Resp>);

pub struct Grouped<Req, Resp> {
    tx: mpsc::Sender<Call<Req, Resp>>,
}

impl<Req, Resp> Clone for Grouped<Req, Resp> {
    fn clone(&self) -> Self {
        Grouped { tx: self.tx.clone() }
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
        let flights = std::sync::Arc::new(tokio::sync::Semaphore::new(flights.max(1)));
        let serve = std::sync::Arc::new(serve);
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
                let served = tokio::spawn(async move { serve(requests).await });
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
        Grouped { tx }
    }

    /// Whether the task is gone (its runtime stopped): calls would go unanswered.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The call's answer. None: its group was lost (a panic) or the task is
    /// gone (its runtime is shutting down).
    pub async fn call(&self, request: Req) -> Option<Resp> {
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
    async fn a_panic_loses_its_group_not_the_task() {
        let grouped = Grouped::start(4, 1, |numbers: Vec<u32>| async move {
            assert!(!numbers.contains(&13), "thirteen is refused");
            numbers
        });
        assert_eq!(grouped.call(13).await, None, "the panicking group's caller hears None");
        assert_eq!(grouped.call(7).await, Some(7), "the next call is served");
    }
}
