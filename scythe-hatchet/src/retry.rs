//! Retrying transient engine errors with exponential backoff and jitter.

use std::future::Future;
use std::time::Duration;

use crate::error::HatchetError;

/// Attempts for idempotent unary calls (what Hatchet's SDKs use).
pub(crate) const ATTEMPTS: u32 = 5;

/// The pause before retry number `attempt` (1-based): 0.5 s doubling up to `cap`, ±25 % jitter.
pub(crate) fn backoff(attempt: u32, cap: Duration) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(cap);
    base.mul_f64(rand::random_range(0.75..1.25))
}

/// Runs `call` until it succeeds, fails permanently, or `attempts` are used up.
pub(crate) async fn retry<T, F, Fut>(what: &str, attempts: u32, call: F) -> Result<T, HatchetError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, HatchetError>>,
{
    retry_when(what, attempts, HatchetError::is_retryable, call).await
}

/// Runs `call` until it succeeds, fails with an error `worth_retrying` rejects, or `attempts` are used up.
pub(crate) async fn retry_when<T, F, Fut>(
    what: &str,
    attempts: u32,
    worth_retrying: impl Fn(&HatchetError) -> bool,
    mut call: F,
) -> Result<T, HatchetError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, HatchetError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err) if worth_retrying(&err) && attempt < attempts => {
                let pause = backoff(attempt, Duration::from_secs(10));
                tracing::warn!(%err, attempt, ?pause, "{what} failed; retrying");
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn backoff_grows_to_the_cap() {
        let cap = Duration::from_secs(10);
        assert!((375..=625).contains(&backoff(1, cap).as_millis()));
        assert!((1500..=2500).contains(&backoff(3, cap).as_millis()));
        assert!((7500..=12500).contains(&backoff(30, cap).as_millis()));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_transient_errors() {
        let calls = AtomicU32::new(0);
        let unavailable = || HatchetError::from_status(&tonic::Status::unavailable("down"), "m", "a");
        let result: Result<(), _> = retry("test", 3, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(unavailable())
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), _> = retry("test", 3, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(HatchetError::from_status(&tonic::Status::invalid_argument("no"), "m", "a"))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
