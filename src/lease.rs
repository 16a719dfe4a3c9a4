//! Leases: who is working on a run folder right now.
//!
//! A process that allocates or executes a run keeps `lease.yml` in the run folder, rewritten
//! every [`REFRESH`] with its host, pid and the time. A lease is live while its process is
//! (same host: the pid exists; another host: the lease is younger than [`STALE_AFTER`]).
//! A run folder without a manifest and without a live lease is *abandoned* (its allocation
//! died); a committed run without a summary and without a live lease is *interrupted*.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use scythe_storage::Store;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::manifest::{from_yaml, to_yaml};

/// How often a holder rewrites its lease.
pub(crate) const REFRESH: Duration = Duration::from_secs(10);
/// Age after which a lease from another host is no longer live (three missed refreshes).
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(35);
/// Name of the lease object in a run folder.
pub(crate) const LEASE: &str = "lease.yml";

/// The key of a run folder's lease.
pub(crate) fn key(run_dir: &str) -> String {
    format!("{}/{LEASE}", run_dir.trim_end_matches('/'))
}

/// One process's claim on a run folder (also the content of allocation claims).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lease {
    /// The holder's host name.
    pub(crate) host: String,
    /// The holder's process id.
    pub(crate) pid: u32,
    /// When the lease was last written.
    pub(crate) at: DateTime<Utc>,
    /// Tells apart leases of one process.
    pub(crate) token: String,
}

impl Lease {
    /// A lease for this process, written now.
    pub(crate) fn mine() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        Self {
            host: this_host(),
            pid: std::process::id(),
            at: Utc::now(),
            token: format!("{}-{nonce}", NEXT.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Parses a lease (or claim) object; `None` for anything else (older claims were text).
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        from_yaml(LEASE, bytes).ok()
    }

    /// Whether its holder is still at work at `now`.
    pub(crate) fn is_live(&self, now: DateTime<Utc>) -> bool {
        if self.host == this_host()
            && let Some(alive) = process_exists(self.pid)
        {
            return alive;
        }
        (now - self.at).to_std().map_or(true, |age| age < STALE_AFTER)
    }

    pub(crate) fn to_yaml(&self) -> Result<String, Error> {
        to_yaml(LEASE, self)
    }
}

/// Reads the lease at `key`, `None` when absent or unreadable.
pub(crate) async fn read(store: &Store, key: &str) -> Result<Option<Lease>, Error> {
    match store.get(key).await {
        Ok(bytes) => Ok(Lease::parse(&bytes)),
        Err(scythe_storage::StoreError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Whether `key` holds a live lease.
pub(crate) async fn is_live(store: &Store, key: &str) -> Result<bool, Error> {
    Ok(read(store, key).await?.is_some_and(|lease| lease.is_live(Utc::now())))
}

/// Keeps a lease fresh while it is alive; [`Holder::release`] deletes it.
#[derive(Debug, Clone)]
pub(crate) struct Holder {
    inner: Arc<HolderInner>,
}

#[derive(Debug)]
struct HolderInner {
    store: Store,
    key: String,
    token: String,
    refresh: tokio::task::JoinHandle<()>,
}

impl Drop for HolderInner {
    fn drop(&mut self) {
        self.refresh.abort();
    }
}

impl Holder {
    /// Writes this process's lease at `key` and keeps rewriting it every [`REFRESH`].
    pub(crate) async fn hold(store: &Store, key: String) -> Result<Self, Error> {
        let lease = Lease::mine();
        store.put(&key, lease.to_yaml()?).await?;
        let refresh = {
            let (store, key, mut lease) = (store.clone(), key.clone(), lease.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(REFRESH).await;
                    lease.at = Utc::now();
                    let written = match lease.to_yaml() {
                        Ok(text) => store.put(&key, text).await.map_err(Error::from),
                        Err(error) => Err(error),
                    };
                    if let Err(error) = written {
                        tracing::warn!(%error, "could not refresh the run's lease");
                    }
                }
            })
        };
        Ok(Self { inner: Arc::new(HolderInner { store: store.clone(), key, token: lease.token, refresh }) })
    }

    /// Stops refreshing and deletes the lease if it is still this holder's.
    pub(crate) async fn release(&self) -> Result<(), Error> {
        self.inner.refresh.abort();
        let inner = &self.inner;
        if read(&inner.store, &inner.key).await?.is_some_and(|lease| lease.token == inner.token) {
            inner.store.delete(&inner.key).await?;
        }
        Ok(())
    }
}

/// This machine's name (empty when unknown: then only the lease's age counts).
fn this_host() -> String {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|name| name.trim().to_owned())
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default()
    })
    .clone()
}

/// Whether process `pid` exists on this machine, when that can be told (Linux: `/proc`).
fn process_exists(pid: u32) -> Option<bool> {
    if this_host().is_empty() {
        return None;
    }
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    // A zombie (killed, not yet reaped by its parent) is not at work.
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        Ok(stat) => Some(!stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))),
        Err(_) => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_lease_is_live_and_a_dead_pid_is_not() {
        let mine = Lease::mine();
        assert!(mine.is_live(Utc::now()));
        let parsed = Lease::parse(mine.to_yaml().unwrap().as_bytes()).unwrap();
        assert_eq!(parsed, mine);
        // pid_max on Linux is at most 2^22: this pid never exists.
        let dead = Lease { pid: 4_194_304 + 17, ..mine.clone() };
        assert!(!dead.is_live(Utc::now()));
        let elsewhere = Lease { host: "another-host".into(), ..mine };
        assert!(elsewhere.is_live(Utc::now()));
        assert!(!elsewhere.is_live(Utc::now() + chrono::Duration::seconds(60)));
        assert!(Lease::parse(b"2026-01-01T00:00:00Z pid 1 claim 0 nonce 5").is_none());
    }
}
