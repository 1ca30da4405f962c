//! Keeps each queue's consumer running. An apalis worker whose backend
//! fails (a Redis timeout, a reset connection, Redis restarted) ends with
//! an error and does not come back by itself; left alone, the process
//! would stay up doing nothing. `supervise` starts the consumer again with
//! a growing pause, and gives up (so the process exits non-zero and
//! whatever runs it starts a fresh one) when it keeps failing.
//!
//! apalis's own `Monitor` can restart a worker too, but it restarts at
//! once, in a tight loop while Redis is down, under the same worker name
//! (which apalis-redis refuses while the old name's heartbeat is fresh);
//! this loop adds the pause and a fresh name per start.

use crate::heartbeat::Consumption;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// When and how often a stopped consumer is started again.
#[derive(Debug, Clone, Copy)]
pub struct Restarts {
    /// The pause before the first restart; doubled after each failure.
    pub first_pause: Duration,
    /// The longest pause.
    pub max_pause: Duration,
    /// Failures in a row after which the process gives up.
    pub give_up_after: u32,
    /// A consumer that ran this long before failing was healthy: the count starts again.
    pub healthy_after: Duration,
}

impl Restarts {
    pub fn new(give_up_after: u32) -> Self {
        Restarts {
            first_pause: Duration::from_millis(500),
            max_pause: Duration::from_secs(30),
            give_up_after,
            healthy_after: Duration::from_secs(60),
        }
    }

    /// The pause before restart number `failures` (1-based).
    pub fn pause(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        self.first_pause.saturating_mul(factor).min(self.max_pause)
    }
}

/// Runs `start(attempt)` until `stop` turns true, starting it again after
/// each failure. `Ok` when asked to stop; `Err` when it gave up.
pub async fn supervise<F, Fut, E>(
    consumption: &Consumption,
    restarts: Restarts,
    mut stop: watch::Receiver<bool>,
    mut start: F,
) -> anyhow::Result<()>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let queue = consumption.queue();
    let mut failures = 0u32;
    for attempt in 0u32.. {
        let began = Instant::now();
        consumption.running();
        let outcome = start(attempt).await;
        if *stop.borrow() {
            return Ok(());
        }
        let error = match outcome {
            Ok(()) => "the consumer stopped without being asked to".to_string(),
            Err(e) => e.to_string(),
        };
        if began.elapsed() >= restarts.healthy_after {
            failures = 0;
        }
        failures += 1;
        consumption.failed(&error);
        if failures > restarts.give_up_after {
            tracing::error!(queue, failures, %error, "the consumer keeps failing; giving up so the process is restarted");
            anyhow::bail!("the {queue} consumer failed {failures} times in a row; last error: {error}");
        }
        let pause = restarts.pause(failures);
        tracing::warn!(queue, attempt, failures, %error, pause_ms = pause.as_millis() as u64, "the consumer stopped; starting it again");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
    unreachable!("the attempt counter does not run out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use store::workers::Queue;

    fn quick(give_up_after: u32) -> Restarts {
        Restarts {
            first_pause: Duration::from_millis(1),
            max_pause: Duration::from_millis(4),
            give_up_after,
            healthy_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn pauses_double_up_to_the_longest() {
        let r = Restarts::new(8);
        let pauses: Vec<u64> = (1..=9).map(|n| r.pause(n).as_millis() as u64).collect();
        assert_eq!(pauses, vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        assert_eq!(r.pause(u32::MAX), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn a_failing_consumer_is_started_again_until_it_runs() {
        let (tx, rx) = watch::channel(false);
        let starts = Arc::new(AtomicU32::new(0));
        let seen = starts.clone();
        let consumption = Consumption::new(Queue::Runs);
        let result = supervise(&consumption, quick(5), rx, move |_| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let tx = tx.clone();
            async move {
                if n < 3 {
                    Err("redis timed out")
                } else {
                    // The fourth start works until it is asked to stop.
                    let _ = tx.send(true);
                    Ok(())
                }
            }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(starts.load(Ordering::SeqCst), 4);
        assert_eq!(consumption.snapshot().restarts, 3);
        assert_eq!(consumption.snapshot().last_error.as_deref(), Some("redis timed out"));
    }

    #[tokio::test]
    async fn a_consumer_that_keeps_failing_makes_the_process_give_up() {
        let (_tx, rx) = watch::channel(false);
        let consumption = Consumption::new(Queue::Email);
        let err = supervise(&consumption, quick(2), rx, |_| async { Err("connection refused") }).await.unwrap_err();
        assert!(err.to_string().contains("email consumer failed 3 times in a row"), "{err}");
        assert!(err.to_string().contains("connection refused"), "{err}");
    }

    #[tokio::test]
    async fn a_consumer_that_returns_without_a_stop_counts_as_a_failure() {
        let (_tx, rx) = watch::channel(false);
        let consumption = Consumption::new(Queue::Runs);
        let err = supervise(&consumption, quick(0), rx, |_| async { Ok::<(), String>(()) }).await.unwrap_err();
        assert!(err.to_string().contains("stopped without being asked"), "{err}");
    }

    #[tokio::test]
    async fn a_stop_during_the_pause_ends_at_once() {
        let (tx, rx) = watch::channel(false);
        let consumption = Consumption::new(Queue::Runs);
        let restarts = Restarts { first_pause: Duration::from_secs(3600), ..quick(5) };
        let task =
            tokio::spawn(
                async move { supervise(&consumption, restarts, rx, |_| async { Err::<(), _>("boom") }).await },
            );
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send(true).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), task).await.expect("ends").unwrap();
        assert!(result.is_ok());
    }
}
