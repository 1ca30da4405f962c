//! Keeping a lease (a run's, a replay's) while the work that holds it goes on.

use std::future::Future;
use std::time::Duration;

/// Renews a lease in the background every third of its length and stops
/// renewing when dropped, however the work ends (returned, failed or
/// panicked), so a dead worker's lease lapses and the sweeper hands the
/// work to another. Stops by itself when `renew` says the lease is lost.
pub struct LeaseKeeper(tokio::task::JoinHandle<()>);

impl LeaseKeeper {
    pub fn start<F, Fut>(lease_seconds: i64, mut renew: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        LeaseKeeper(tokio::spawn(async move {
            let every = Duration::from_secs_f64((lease_seconds as f64 / 3.0).max(0.5));
            loop {
                tokio::time::sleep(every).await;
                if !renew().await {
                    break;
                }
            }
        }))
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}
