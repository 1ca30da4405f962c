//! When the scheduled jobs (stale reviews, the cost watch, monthly
//! scorecards) tick: every `seconds`, at most a minute apart.

/// The cron schedule for a check every `seconds` (0 or 60 and above: every minute).
pub fn every(seconds: u64) -> cron::Schedule {
    use std::str::FromStr;
    let expr = if seconds >= 60 || seconds == 0 { "0 * * * * *".to_string() } else { format!("*/{seconds} * * * * *") };
    cron::Schedule::from_str(&expr).expect("a valid cron expression")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_tick_at_the_asked_pace_and_at_least_every_minute() {
        let now = chrono::Utc::now();
        let gap = |s: cron::Schedule| {
            let mut next = s.after(&now);
            let (a, b) = (next.next().unwrap(), next.next().unwrap());
            (b - a).num_seconds()
        };
        assert_eq!(gap(every(15)), 15);
        assert_eq!(gap(every(60)), 60);
        assert_eq!(gap(every(3600)), 60, "never less often than a minute");
        assert_eq!(gap(every(0)), 60);
    }
}
