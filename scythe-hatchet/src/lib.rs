//! Scythe's client of the [Hatchet](https://hatchet.run) task-queue engine's gRPC API: the transport
//! behind `scythe worker` and distributed scatter/gather.
//!
//! A worker [registers workflows](HatchetClient::register_workflow) and
//! [itself](HatchetClient::register_worker), [listens](HatchetClient::listen) for
//! [`AssignedAction`]s, [heartbeats](HatchetClient::heartbeat) every [`HEARTBEAT_INTERVAL`], reports
//! each task with [`send_step_event`](HatchetClient::send_step_event) and finally
//! [unsubscribes](HatchetClient::unsubscribe). A launcher (or a scatter task spawning children)
//! [triggers runs in bulk](HatchetClient::bulk_trigger) and awaits their [`RunOutcome`]s through one
//! [`RunWatcher`].
//!
//! ```no_run
//! use scythe_hatchet::{HatchetClient, HatchetConfig, RunWatcher, TriggerRequest};
//!
//! # async fn launch() -> Result<(), Box<dyn std::error::Error>> {
//! let client = HatchetClient::connect(&HatchetConfig::from_env()?).await?;
//! let requests = (0..100)
//!     .map(|i| TriggerRequest::new("simulate", &serde_json::json!({ "seed": i })))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let runs = client.bulk_trigger(requests).await?;
//! let watcher = RunWatcher::new(&client);
//! let pending: Vec<_> = runs.into_iter().map(|run| watcher.watch(run)).collect();
//! for outcome in futures::future::join_all(pending).await {
//!     println!("{:?}", outcome?);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The wire types come from the crate's own `.proto` files (a subset of Hatchet's API), compiled by
//! `build.rs` with protox; none of them appear in the public API.

mod action;
mod client;
mod config;
mod duration;
mod error;
mod ids;
mod json;
mod labels;
mod proto;
mod results;
mod retry;
mod sweep;
#[cfg(test)]
mod test_support;
mod token;
mod trigger;
mod worker;
mod workflow;

pub use action::{ActionKind, ActionStream, AssignedAction, PayloadError};
pub use client::{HatchetClient, MAX_MESSAGE_BYTES, MIN_ENGINE_VERSION};
pub use config::{HatchetConfig, TlsConfig};
pub use error::{ConfigError, HatchetError, RequestError};
pub use ids::{ActionId, RunId, WorkerId};
pub use labels::{DesiredLabel, LabelComparator, LabelValue};
pub use results::{PendingRun, RunOutcome, RunStatus, RunWatcher, TaskFailure};
pub use trigger::{MAX_BULK_BYTES, MAX_BULK_ITEMS, Priority, TriggerRequest};
pub use worker::{HEARTBEAT_INTERVAL, LogLevel, SlotConfig, StepEvent};
pub use workflow::{
    Backoff, Concurrency, ConcurrencyStrategy, DEFAULT_SLOT_TYPE, DURABLE_SLOT_TYPE, RegisteredWorkflow,
    WorkflowDefinition,
};
