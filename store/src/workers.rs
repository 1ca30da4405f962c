//! Worker heartbeats: every worker process writes, per queue it consumes,
//! when it last beat and what it last consumed. `/readyz`, the operations
//! page and the stall alert read them to tell a quiet queue from a stopped
//! consumer. Global (no tenant): they are about the machine, not a business.

use crate::db::stmt;
use crate::jobs::Backlog;
use chrono::{DateTime, Utc};
use sea_orm::{prelude::*, DatabaseConnection, FromQueryResult};

/// The queues a worker consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Queue {
    /// Run execution (apalis on Redis).
    Runs,
    /// Outgoing email (apalis on Redis).
    Email,
    /// The scheduled jobs: review escalations, the cost watch, scorecards.
    Schedule,
    /// Replays of a workflow version over a dataset (apalis on Redis).
    Replays,
}

impl Queue {
    pub const ALL: [Queue; 4] = [Queue::Runs, Queue::Email, Queue::Schedule, Queue::Replays];

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a consumer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ConsumerState {
    Consuming,
    /// Its backend failed; the supervisor starts it again after a pause.
    Restarting,
    Stopped,
}

/// One process's beat for one queue.
#[derive(Debug, Clone)]
pub struct Beat {
    pub process: String,
    pub queue: Queue,
    pub host: String,
    pub pid: i32,
    pub started_at: DateTime<Utc>,
    pub state: ConsumerState,
    pub consumed: i64,
    pub last_consumed_at: Option<DateTime<Utc>>,
    pub last_job: Option<String>,
    pub restarts: i32,
    pub last_error: Option<String>,
}

/// Writes a process's beats (one row per queue, replaced each time).
pub async fn beat(db: &DatabaseConnection, beats: &[Beat]) -> Result<(), DbErr> {
    for b in beats {
        db.execute_raw(stmt(
            "INSERT INTO public.worker_heartbeats
                    (process, queue, host, pid, started_at, beat_at, state, consumed, last_consumed_at, last_job, restarts, last_error)
             VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8, $9, $10, $11)
             ON CONFLICT (process, queue) DO UPDATE SET
                    beat_at = now(), state = EXCLUDED.state, consumed = EXCLUDED.consumed,
                    last_consumed_at = EXCLUDED.last_consumed_at, last_job = EXCLUDED.last_job,
                    restarts = EXCLUDED.restarts, last_error = EXCLUDED.last_error",
            vec![
                b.process.clone().into(),
                b.queue.as_str().into(),
                b.host.clone().into(),
                b.pid.into(),
                b.started_at.into(),
                <&str>::from(b.state).into(),
                b.consumed.into(),
                b.last_consumed_at.into(),
                b.last_job.clone().into(),
                b.restarts.into(),
                b.last_error.clone().into(),
            ],
        ))
        .await?;
    }
    // Processes gone for a day are history.
    db.execute_raw(stmt("DELETE FROM public.worker_heartbeats WHERE beat_at < now() - interval '1 day'", vec![]))
        .await?;
    Ok(())
}

/// How one queue's consumers stand, across every worker process.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueHealth {
    pub queue: Queue,
    /// Processes that beat recently and consume the queue.
    pub consumers: i64,
    /// Of those, how many are between restarts.
    pub restarting: i64,
    /// When any live consumer last consumed a job of the queue (or, for a
    /// consumer that has not consumed yet, when it started).
    pub last_active_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The freshest heartbeat of any process consuming the queue.
    pub last_beat_at: Option<DateTime<Utc>>,
}

impl QueueHealth {
    /// Seconds since the freshest heartbeat, at `now`.
    pub fn beat_age_seconds(&self, now: DateTime<Utc>) -> Option<i64> {
        self.last_beat_at.map(|t| (now - t).num_seconds().max(0))
    }

    /// Seconds since the queue was last worked on, at `now`.
    pub fn idle_seconds(&self, now: DateTime<Utc>) -> Option<i64> {
        self.last_active_at.map(|t| (now - t).num_seconds().max(0))
    }
}

/// Every queue's consumers whose beat is younger than `alive_seconds`.
pub async fn health(db: &DatabaseConnection, alive_seconds: i64) -> Result<Vec<QueueHealth>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        queue: String,
        consumers: i64,
        restarting: i64,
        last_active_at: Option<DateTime<Utc>>,
        last_error: Option<String>,
        last_beat_at: Option<DateTime<Utc>>,
    }
    let rows = Row::find_by_statement(stmt(
        "SELECT queue, count(*) FILTER (WHERE state = 'consuming') AS consumers,
                count(*) FILTER (WHERE state = 'restarting') AS restarting,
                max(greatest(last_consumed_at, started_at)) FILTER (WHERE state = 'consuming') AS last_active_at,
                (array_agg(last_error ORDER BY beat_at DESC) FILTER (WHERE last_error IS NOT NULL))[1] AS last_error,
                max(beat_at) AS last_beat_at
           FROM public.worker_heartbeats
          WHERE state <> 'stopped' AND beat_at > now() - make_interval(secs => $1::double precision)
          GROUP BY queue",
        vec![(alive_seconds as f64).into()],
    ))
    .all(db)
    .await?;
    Ok(Queue::ALL
        .into_iter()
        .map(|queue| match rows.iter().find(|r| r.queue == queue.as_str()) {
            Some(r) => QueueHealth {
                queue,
                consumers: r.consumers,
                restarting: r.restarting,
                last_active_at: r.last_active_at,
                last_error: r.last_error.clone(),
                last_beat_at: r.last_beat_at,
            },
            None => QueueHealth {
                queue,
                consumers: 0,
                restarting: 0,
                last_active_at: None,
                last_error: None,
                last_beat_at: None,
            },
        })
        .collect())
}

/// Records that operations were told `queue` stalled; false when they were
/// already told about this stall (another worker process sent it).
pub async fn open_alert(db: &DatabaseConnection, queue: Queue, detail: &str) -> Result<bool, DbErr> {
    Ok(db
        .execute_raw(stmt(
            "INSERT INTO public.worker_alerts (queue, since, detail) VALUES ($1, now(), $2) ON CONFLICT (queue) DO NOTHING",
            vec![queue.as_str().into(), detail.into()],
        ))
        .await?
        .rows_affected()
        == 1)
}

/// The queue moves again: the next stall is news.
pub async fn close_alert(db: &DatabaseConnection, queue: Queue) -> Result<bool, DbErr> {
    Ok(db
        .execute_raw(stmt("DELETE FROM public.worker_alerts WHERE queue = $1", vec![queue.as_str().into()]))
        .await?
        .rows_affected()
        == 1)
}

/// One queue as operations see it: its consumers, its backlog (when Redis
/// answered in time) and why it is stalled, if it is.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueOverview {
    pub health: QueueHealth,
    pub backlog: Option<Backlog>,
    pub stalled: Option<String>,
}

/// Every queue's overview; Redis is given `deadline` (the backlog is left
/// out when it does not answer in time).
pub async fn overview(
    db: &DatabaseConnection,
    runs: &crate::jobs::RunQueue,
    mail: &crate::jobs::MailQueue,
    replays: &crate::jobs::ReplayQueue,
    settings: &crate::config::Settings,
    deadline: std::time::Duration,
) -> Result<Vec<QueueOverview>, DbErr> {
    let alive = (settings.runs.heartbeat_seconds * 3 + 5) as i64;
    let (health, runs_backlog, mail_backlog, replays_backlog) = tokio::join!(
        health(db, alive),
        tokio::time::timeout(deadline, runs.backlog()),
        tokio::time::timeout(deadline, mail.backlog()),
        tokio::time::timeout(deadline, replays.backlog()),
    );
    let now = Utc::now();
    Ok(health?
        .into_iter()
        .map(|health| {
            let backlog = match health.queue {
                Queue::Runs => runs_backlog.as_ref().ok().and_then(|b| b.as_ref().ok()).copied(),
                Queue::Email => mail_backlog.as_ref().ok().and_then(|b| b.as_ref().ok()).copied(),
                Queue::Replays => replays_backlog.as_ref().ok().and_then(|b| b.as_ref().ok()).copied(),
                Queue::Schedule => None,
            };
            let stalled = backlog.and_then(|b| stall(&health, b, now, settings.runs.stall_seconds));
            QueueOverview { health, backlog, stalled }
        })
        .collect())
}

/// Why a queue counts as stalled at `now`, if it does: a job has waited
/// `stall_seconds` and no live consumer took one for as long.
pub fn stall(health: &QueueHealth, backlog: Backlog, now: DateTime<Utc>, stall_seconds: i64) -> Option<String> {
    if backlog.waiting == 0 || backlog.oldest_seconds < stall_seconds {
        return None;
    }
    let (queue, waiting, oldest) = (health.queue, backlog.waiting, backlog.oldest_seconds);
    if health.consumers == 0 {
        let restarting = match health.restarting {
            0 => String::new(),
            n => format!(" ({n} restarting)"),
        };
        let error = health.last_error.as_deref().map(|e| format!("; last error: {e}")).unwrap_or_default();
        return Some(format!(
            "{waiting} {queue} jobs are waiting (the oldest for {oldest} s) and no worker is consuming them{restarting}{error}"
        ));
    }
    match health.idle_seconds(now) {
        Some(idle) if idle >= stall_seconds => Some(format!(
            "{waiting} {queue} jobs are waiting (the oldest for {oldest} s) and no worker has taken one for {idle} s"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(consumers: i64, idle: Option<i64>, now: DateTime<Utc>) -> QueueHealth {
        QueueHealth {
            queue: Queue::Runs,
            consumers,
            restarting: 0,
            last_active_at: idle.map(|s| now - chrono::Duration::seconds(s)),
            last_error: None,
            last_beat_at: Some(now),
        }
    }

    fn backlog(waiting: u64, oldest_seconds: i64) -> Backlog {
        Backlog { waiting, oldest_seconds }
    }

    #[test]
    fn a_quiet_queue_is_not_stalled_however_long_it_has_been() {
        let now = Utc::now();
        assert_eq!(stall(&health(1, Some(86_400), now), backlog(0, 0), now, 120), None);
        assert_eq!(stall(&health(0, None, now), backlog(0, 0), now, 120), None);
    }

    #[test]
    fn a_job_that_just_arrived_in_a_quiet_queue_is_not_a_stall() {
        let now = Utc::now();
        assert_eq!(stall(&health(1, Some(86_400), now), backlog(1, 3), now, 120), None);
        assert_eq!(stall(&health(0, None, now), backlog(1, 3), now, 120), None, "a worker restarting for a moment");
    }

    #[test]
    fn work_waiting_with_no_consumer_is_a_stall() {
        let now = Utc::now();
        let mut h = health(0, None, now);
        h.restarting = 1;
        h.last_error = Some("connection refused".into());
        let why = stall(&h, backlog(3, 130), now, 120).unwrap();
        assert_eq!(
            why,
            "3 runs jobs are waiting (the oldest for 130 s) and no worker is consuming them (1 restarting); last error: connection refused"
        );
    }

    #[test]
    fn work_waiting_while_consumers_take_nothing_is_a_stall() {
        let now = Utc::now();
        assert_eq!(stall(&health(2, Some(30), now), backlog(5, 300), now, 120), None, "they are taking work");
        let why = stall(&health(2, Some(121), now), backlog(5, 300), now, 120).unwrap();
        assert!(why.contains("no worker has taken one for 121 s"), "{why}");
    }
}
