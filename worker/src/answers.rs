//! The answers of deterministic api_call steps, kept in this process for
//! what is left of their time to live, in front of the Redis cache that all
//! workers share: a run whose call this worker has seen answered reads the
//! answer without a round trip. Bounded: the table is emptied when it holds
//! `MOST` answers (as `engine::compiled` does; a cache crate's eviction
//! would buy nothing for a table this small and this cheap to refill), and
//! an answer larger than `LARGEST` is not kept.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Answers kept at most before the table starts afresh.
const MOST: usize = 4096;

/// The largest answer kept (as JSON text); a larger one is read from Redis each time.
const LARGEST: usize = 16 * 1024;

#[derive(Default)]
pub struct Answers {
    kept: Mutex<HashMap<String, (Instant, Value)>>,
}

impl Answers {
    /// The answer kept under `key`, if its time to live has not run out.
    pub fn get(&self, key: &str) -> Option<Value> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        match kept.get(key) {
            Some((until, answer)) if *until > Instant::now() => Some(answer.clone()),
            Some(_) => {
                kept.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `answer` (`size` bytes as JSON text) under `key` for `ttl`.
    pub fn keep(&self, key: &str, answer: &Value, size: usize, ttl: Duration) {
        if size > LARGEST {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= MOST {
            kept.clear();
        }
        kept.insert(key.to_owned(), (Instant::now() + ttl, answer.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_is_kept_for_its_time_to_live_and_the_table_stays_bounded() {
        let answers = Answers::default();
        answers.keep("lookup", &json!({ "size": 40 }), 13, Duration::from_millis(50));
        assert_eq!(answers.get("lookup"), Some(json!({ "size": 40 })));
        assert_eq!(answers.get("other"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(answers.get("lookup"), None, "past its time to live it is read again from Redis");
        for i in 0..=MOST {
            answers.keep(&i.to_string(), &json!(i), 4, Duration::from_secs(60));
        }
        assert!(answers.kept.lock().unwrap().len() <= MOST, "never more than MOST answers");
        assert_eq!(answers.get(&MOST.to_string()), Some(json!(MOST)), "the latest answer is kept");
        answers.keep("large", &json!("…"), LARGEST + 1, Duration::from_secs(60));
        assert_eq!(answers.get("large"), None, "a large answer is not kept in memory");
    }
}
