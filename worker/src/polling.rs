//! How a consumer looks for new jobs while its queue is quiet.
//!
//! apalis's interval and backoff strategies arm their next timer only when
//! they are polled again, and a consumer polls its strategy only when
//! something else wakes it. When the timer fires in the same wake-up in
//! which a fetch comes back empty, nothing is left to wake the consumer but
//! apalis's heartbeat (every ten seconds here): runs sent meanwhile waited
//! that long (seen in the runs benchmark, about one run in ten). This
//! strategy arms its next timer as soon as one fires, so a consumer is
//! always woken to look again.

use apalis::prelude::{PollSnapshot, PollStrategy};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub struct IdlePolling {
    first: Duration,
    most: Duration,
    next: Duration,
    /// Made at the first poll, on the consumer's runtime.
    timer: Option<Pin<Box<Sleep>>>,
    /// A look fired since apalis last said how the backend answered (it
    /// says so after every poll, also those that only wait on Redis).
    looked: bool,
}

impl Clone for IdlePolling {
    fn clone(&self) -> Self {
        IdlePolling::new(self.first, self.most)
    }
}

impl IdlePolling {
    /// Looks every `first` while jobs come, and twice as long after each
    /// look that found none, up to `most`.
    pub fn new(first: Duration, most: Duration) -> Self {
        IdlePolling { first, most, next: first, timer: None, looked: false }
    }
}

impl PollStrategy for IdlePolling {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let first = self.first;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(first)));
        // Jobs came since the timer was armed for a quiet queue: look again sooner.
        let due = Instant::now() + self.next;
        if timer.deadline() > due {
            timer.as_mut().reset(due);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // Armed again at once and registered with this waker: the next look is due whatever the consumer does now.
        timer.as_mut().reset(Instant::now() + self.next);
        let _ = timer.as_mut().poll(cx);
        self.looked = true;
        Poll::Ready(Some(()))
    }

    fn on_poll(&mut self, snapshot: &PollSnapshot) {
        if !snapshot.is_idle() {
            self.next = self.first;
        } else if std::mem::take(&mut self.looked) {
            self.next = (self.next * 2).min(self.most);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Waits until the strategy wakes its consumer (false: not within five seconds).
    async fn woken(wakes: &Wakes, seen: usize) -> bool {
        let started = Instant::now();
        while wakes.0.load(Ordering::SeqCst) == seen {
            if started.elapsed() > Duration::from_secs(5) {
                return false;
            }
            tokio::time::sleep(ms(2)).await;
        }
        true
    }

    /// How long until the armed timer fires, in milliseconds, rounded up.
    fn armed(strategy: &IdlePolling) -> u64 {
        let left = strategy.timer.as_ref().expect("a timer is armed").deadline() - Instant::now();
        left.as_micros().div_ceil(1000) as u64
    }

    #[tokio::test]
    async fn a_quiet_consumer_is_woken_again_after_each_look_even_if_nothing_else_polls_it() {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let idle = PollSnapshot::default();
        assert!(idle.is_idle());
        let mut strategy = IdlePolling::new(ms(20), ms(160));
        assert!(strategy.poll_drive(&mut cx, &idle).is_pending());

        let mut intervals = Vec::new();
        for seen in 0..6 {
            // The consumer is polled only when woken, and polls its strategy once per wake-up.
            assert!(woken(&wakes, seen).await, "woken again without being polled meanwhile (look {seen})");
            assert!(strategy.poll_drive(&mut cx, &idle).is_ready());
            intervals.push(armed(&strategy));
            strategy.on_poll(&idle);
        }
        let expected = [20, 40, 80, 160, 160, 160];
        let close = intervals.iter().zip(expected).all(|(got, want)| *got <= want && *got + 5 >= want);
        assert!(close, "looks back off while nothing comes, up to the most: {intervals:?}, expected {expected:?}");

        // Jobs came: the next look comes after the first interval, not after the one armed for a quiet queue.
        strategy.on_poll(&PollSnapshot { consecutive_ready: 1, ..Default::default() });
        assert!(strategy.poll_drive(&mut cx, &idle).is_pending());
        let busy = armed(&strategy);
        assert!((15..=20).contains(&busy), "busy again: the first interval, not {busy} ms");
        assert!(woken(&wakes, 6).await);
        assert!(strategy.poll_drive(&mut cx, &idle).is_ready());
    }

    #[tokio::test]
    async fn only_looks_that_found_nothing_back_off_not_polls_that_waited_on_redis() {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let idle = PollSnapshot::default();
        let mut strategy = IdlePolling::new(ms(20), ms(160));
        // apalis reports after every poll of the backend, also those that only wait for Redis's answer.
        for _ in 0..3 {
            assert!(strategy.poll_drive(&mut cx, &idle).is_pending());
            strategy.on_poll(&idle);
        }
        assert!(woken(&wakes, 0).await);
        assert!(strategy.poll_drive(&mut cx, &idle).is_ready());
        let next = armed(&strategy);
        assert!((15..=20).contains(&next), "no look had fired: still the first interval, not {next} ms");
        strategy.on_poll(&idle);
        strategy.on_poll(&idle);
        assert!(woken(&wakes, 1).await);
        assert!(strategy.poll_drive(&mut cx, &idle).is_ready());
        let next = armed(&strategy);
        assert!((35..=40).contains(&next), "one look found nothing: twice the first, not {next} ms");
    }
}
