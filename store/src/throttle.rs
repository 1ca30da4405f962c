//! Sign-in and sign-up throttling with Redis counters, per account (email)
//! and per client address. The counters do not care whether an account
//! exists, so the refusal says nothing about which emails are registered.
//! Sign-in counts failures; sign-up counts every attempt that reaches the
//! database (each success opens a business).

use redis::{aio::ConnectionManager, AsyncCommands};

pub const ACCOUNT_LIMIT: u64 = 5;
pub const ADDRESS_LIMIT: u64 = 20;
pub const WINDOW_SECONDS: u64 = 15 * 60;

#[derive(Clone)]
pub struct LoginThrottle {
    redis: ConnectionManager,
    prefix: String,
}

#[derive(Debug, PartialEq)]
pub struct Throttled {
    pub retry_after_seconds: u64,
    pub door: Door,
}

/// Which door is throttled: each keeps its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    SignIn,
    SignUp,
}

impl Door {
    fn key(self) -> &'static str {
        match self {
            Door::SignIn => "login",
            Door::SignUp => "signup",
        }
    }
}

impl Throttled {
    pub fn message(&self) -> String {
        let minutes = self.retry_after_seconds.div_ceil(60).max(1);
        format!(
            "Too many {} attempts. Wait {minutes} minute{} and try again.",
            match self.door {
                Door::SignIn => "sign-in",
                Door::SignUp => "sign-up",
            },
            if minutes == 1 { "" } else { "s" }
        )
    }
}

impl LoginThrottle {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self { redis, prefix: prefix.to_owned() }
    }

    fn account_key(&self, door: Door, tenant_slug: &str, email: &str) -> String {
        format!("{}:{}:account:{}:{}", self.prefix, door.key(), tenant_slug, email.trim().to_lowercase())
    }

    fn address_key(&self, door: Door, client_address: &str) -> String {
        format!("{}:{}:address:{}", self.prefix, door.key(), client_address)
    }

    /// Refuses a sign-in when either counter has reached its limit within the window.
    pub async fn check(&self, tenant_slug: &str, email: &str, client_address: &str) -> Result<(), ThrottleCheck> {
        self.check_door(Door::SignIn, tenant_slug, email, client_address).await
    }

    /// Refuses a sign-up when the email or the client address has tried too often within the window.
    pub async fn check_sign_up(&self, email: &str, client_address: &str) -> Result<(), ThrottleCheck> {
        self.check_door(Door::SignUp, "", email, client_address).await
    }

    /// Counts a sign-up attempt against the email and the client address.
    pub async fn record_sign_up(&self, email: &str, client_address: &str) -> redis::RedisResult<()> {
        self.count(Door::SignUp, "", email, client_address).await
    }

    async fn check_door(
        &self,
        door: Door,
        tenant_slug: &str,
        email: &str,
        client_address: &str,
    ) -> Result<(), ThrottleCheck> {
        let mut redis = self.redis.clone();
        for (key, limit) in [
            (self.account_key(door, tenant_slug, email), ACCOUNT_LIMIT),
            (self.address_key(door, client_address), ADDRESS_LIMIT),
        ] {
            let count: Option<u64> = redis.get(&key).await.map_err(ThrottleCheck::Redis)?;
            if count.unwrap_or(0) >= limit {
                let ttl: i64 = redis.ttl(&key).await.map_err(ThrottleCheck::Redis)?;
                return Err(ThrottleCheck::Throttled(Throttled {
                    retry_after_seconds: if ttl > 0 { ttl as u64 } else { WINDOW_SECONDS },
                    door,
                }));
            }
        }
        Ok(())
    }

    pub async fn record_failure(&self, tenant_slug: &str, email: &str, client_address: &str) -> redis::RedisResult<()> {
        self.count(Door::SignIn, tenant_slug, email, client_address).await
    }

    async fn count(&self, door: Door, tenant_slug: &str, email: &str, client_address: &str) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        for key in [self.account_key(door, tenant_slug, email), self.address_key(door, client_address)] {
            // INCR then set the window only when the key is new: the window
            // starts at the first failure and is not extended by later ones.
            let (count,): (u64,) = redis::pipe().atomic().incr(&key, 1u64).query_async(&mut redis).await?;
            if count == 1 {
                let _: () = redis.expire(&key, WINDOW_SECONDS as i64).await?;
            }
        }
        Ok(())
    }

    pub async fn clear_account(&self, tenant_slug: &str, email: &str) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        let _: () = redis.del(self.account_key(Door::SignIn, tenant_slug, email)).await?;
        Ok(())
    }
}

#[derive(Debug)]
pub enum ThrottleCheck {
    Throttled(Throttled),
    Redis(redis::RedisError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_wait_in_minutes() {
        assert_eq!(
            Throttled { retry_after_seconds: 61, door: Door::SignIn }.message(),
            "Too many sign-in attempts. Wait 2 minutes and try again."
        );
        assert_eq!(
            Throttled { retry_after_seconds: 5, door: Door::SignUp }.message(),
            "Too many sign-up attempts. Wait 1 minute and try again."
        );
    }
}
