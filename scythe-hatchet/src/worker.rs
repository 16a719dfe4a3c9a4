//! Serving tasks: register a worker, listen for its actions, keep it alive with heartbeats, report
//! each task's progress, and unsubscribe at shutdown (all `Dispatcher/*`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::action::{ActionStream, AssignedAction};
use crate::client::HatchetClient;
use crate::duration;
use crate::error::{HatchetError, RequestError};
use crate::ids::{ActionId, WorkerId};
use crate::json;
use crate::labels::LabelValue;
use crate::proto;
use crate::retry::{ATTEMPTS, retry};

/// How often to call [`HatchetClient::heartbeat`]: the engine schedules only on workers heard from in
/// the last 5 s and reassigns the tasks of workers silent for 30 s.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(4);

/// A worker's capacity: how many units of each slot type it offers. A task takes one
/// [default](crate::DEFAULT_SLOT_TYPE) unit, or one [durable](crate::DURABLE_SLOT_TYPE) unit if it is
/// [durable](crate::WorkflowDefinition::durable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotConfig(BTreeMap<String, u32>);

impl SlotConfig {
    /// `slots` units of the [default](crate::DEFAULT_SLOT_TYPE) type.
    pub fn new(slots: u32) -> Self {
        Self(BTreeMap::from([(crate::DEFAULT_SLOT_TYPE.to_owned(), slots)]))
    }

    /// No slots yet; add them with [`with`](Self::with). (Registering a worker with none is refused:
    /// the engine would give it 100 default slots.)
    pub fn empty() -> Self {
        Self(BTreeMap::new())
    }

    /// Adds (or replaces) `units` of `slot_type`.
    pub fn with(mut self, slot_type: impl Into<String>, units: u32) -> Self {
        self.0.insert(slot_type.into(), units);
        self
    }

    fn to_proto(&self) -> Result<HashMap<String, i32>, RequestError> {
        if self.0.is_empty() {
            return Err(RequestError::OutOfRange {
                what: "worker slots",
                value: "none".into(),
                min: "1".into(),
                max: i32::MAX.to_string(),
            });
        }
        self.0
            .iter()
            .map(|(slot_type, units)| {
                let value = i32::try_from(*units).ok().filter(|n| *n >= 1).ok_or_else(|| RequestError::OutOfRange {
                    what: "worker slots",
                    value: format!("{units} ({slot_type})"),
                    min: "1".into(),
                    max: i32::MAX.to_string(),
                })?;
                Ok((slot_type.clone(), value))
            })
            .collect()
    }
}

impl From<u32> for SlotConfig {
    fn from(slots: u32) -> Self {
        Self::new(slots)
    }
}

/// A task's progress, for [`HatchetClient::send_step_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEvent(Step);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Started,
    Completed { output: String },
    Failed { error: String, retry: bool },
}

impl StepEvent {
    /// The task started running.
    pub fn started() -> Self {
        Self(Step::Started)
    }

    /// The task finished with `output`, which must serialize to a JSON object without `\u0000` (the
    /// engine turns anything else into a failure).
    pub fn completed(output: &impl Serialize) -> Result<Self, RequestError> {
        Ok(Self(Step::Completed { output: json::to_object("task output", output)? }))
    }

    /// The attempt failed; the engine retries if the workflow allows more attempts.
    pub fn failed(error: impl Into<String>) -> Self {
        Self(Step::Failed { error: error.into(), retry: true })
    }

    /// The task failed for good: the engine skips its remaining retries.
    pub fn failed_permanently(error: impl Into<String>) -> Self {
        Self(Step::Failed { error: error.into(), retry: false })
    }
}

/// Severity of a task log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

impl HatchetClient {
    /// Registers a worker that runs `actions` (`Dispatcher/Register`), with `slots` tasks at once (per slot type) and
    /// `labels` for routing. Call once per process and reuse the id; retries transient errors.
    pub async fn register_worker(
        &self,
        name: &str,
        actions: &[ActionId],
        slots: impl Into<SlotConfig>,
        labels: &BTreeMap<String, LabelValue>,
    ) -> Result<WorkerId, HatchetError> {
        let slot_config = slots.into().to_proto()?;
        let request = proto::WorkerRegisterRequest {
            worker_name: name.to_owned(),
            actions: actions.iter().map(ToString::to_string).collect(),
            services: vec!["default".into()],
            labels: labels.iter().map(|(k, v)| (k.clone(), v.to_worker_proto())).collect(),
            runtime_info: Some(proto::RuntimeInfo {
                sdk_version: Some(concat!("scythe-hatchet/", env!("CARGO_PKG_VERSION")).into()),
                language_version: None,
                os: Some(std::env::consts::OS.into()),
                extra: Some("rust".into()),
            }),
            slot_config,
        };
        let response = retry("registering the worker", ATTEMPTS, || async {
            self.dispatcher.clone().register(request.clone()).await.map_err(|s| self.error("Dispatcher/Register", &s))
        })
        .await?;
        Ok(WorkerId::from(response.into_inner().worker_id))
    }

    /// Starts receiving the worker's actions (`Dispatcher/ListenV2`) on a background task; the worker
    /// counts as active while the stream is open. Errors (e.g. an unknown worker) arrive on the stream.
    /// Send heartbeats alongside. Call inside a Tokio runtime.
    pub fn listen(&self, worker: &WorkerId) -> ActionStream {
        ActionStream::spawn(self.clone(), worker.clone())
    }

    pub(crate) async fn open_listen(
        &self,
        worker: &WorkerId,
    ) -> Result<tonic::codec::Streaming<proto::AssignedAction>, HatchetError> {
        let request = proto::WorkerListenRequest { worker_id: worker.to_string() };
        let response =
            self.dispatcher.clone().listen_v2(request).await.map_err(|s| self.error("Dispatcher/ListenV2", &s))?;
        Ok(response.into_inner())
    }

    /// Tells the engine the worker is alive (`Dispatcher/Heartbeat`); due every
    /// [`HEARTBEAT_INTERVAL`], so it gives up after 5 s. `FailedPrecondition` means the listen stream
    /// is not open (yet).
    pub async fn heartbeat(&self, worker: &WorkerId) -> Result<(), HatchetError> {
        const METHOD: &str = "Dispatcher/Heartbeat";
        const DEADLINE: Duration = Duration::from_secs(5);
        let request =
            proto::HeartbeatRequest { worker_id: worker.to_string(), heartbeat_at: Some(SystemTime::now().into()) };
        let mut dispatcher = self.dispatcher.clone();
        match tokio::time::timeout(DEADLINE, dispatcher.heartbeat(request)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(self.error(METHOD, &status)),
            Err(_) => Err(self.error(METHOD, &tonic::Status::deadline_exceeded("no answer within 5 s"))),
        }
    }

    /// Reports `event` for `action`'s attempt (`Dispatcher/SendStepActionEvent`), carrying its
    /// `retry_count`. Retries transient errors.
    pub async fn send_step_event(
        &self,
        worker: &WorkerId,
        action: &AssignedAction,
        event: StepEvent,
    ) -> Result<(), HatchetError> {
        let mut request = action.event(worker);
        let (event_type, payload, should_not_retry) = match event.0 {
            Step::Started => (proto::StepActionEventType::Started, String::new(), None),
            Step::Completed { output } => (proto::StepActionEventType::Completed, output, None),
            // PostgreSQL cannot store NUL; the engine would reject the whole event.
            Step::Failed { error, retry } => {
                (proto::StepActionEventType::Failed, error.replace('\0', "\u{FFFD}"), Some(!retry))
            }
        };
        request.event_type = event_type as i32;
        request.event_payload = payload;
        request.should_not_retry = should_not_retry;
        retry("sending a step event", ATTEMPTS, || async {
            self.dispatcher
                .clone()
                .send_step_action_event(request.clone())
                .await
                .map_err(|s| self.error("Dispatcher/SendStepActionEvent", &s))
        })
        .await?;
        Ok(())
    }

    /// Gives `action`'s attempt `by` more time before the engine times it out
    /// (`Dispatcher/RefreshTimeout`); returns the new deadline.
    pub async fn refresh_timeout(&self, action: &AssignedAction, by: Duration) -> Result<SystemTime, HatchetError> {
        const METHOD: &str = "Dispatcher/RefreshTimeout";
        let request = proto::RefreshTimeoutRequest {
            task_run_external_id: action.task_run_id.clone(),
            increment_timeout_by: duration::to_hatchet("timeout increment", by)?,
        };
        let response = self.dispatcher.clone().refresh_timeout(request).await.map_err(|s| self.error(METHOD, &s))?;
        response
            .into_inner()
            .timeout_at
            .and_then(|at| SystemTime::try_from(at).ok())
            .ok_or_else(|| HatchetError::Protocol { method: METHOD, detail: "no valid timeout_at".into() })
    }

    /// Adds a log line to `action`'s run in the dashboard (`EventsService/PutLog`). The engine keeps at
    /// most 10 000 characters per line; longer messages are cut, empty ones not sent.
    pub async fn put_log(&self, action: &AssignedAction, level: LogLevel, message: &str) -> Result<(), HatchetError> {
        const MAX_CHARS: usize = 10_000;
        let message: String = message.replace('\0', "\u{FFFD}").chars().take(MAX_CHARS).collect();
        if message.is_empty() {
            return Ok(());
        }
        let level = match level {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        };
        let request = proto::PutLogRequest {
            task_run_external_id: action.task_run_id.clone(),
            created_at: Some(SystemTime::now().into()),
            message,
            level: Some(level.into()),
            metadata: "{}".into(),
            task_retry_count: Some(action.retry_count_wire()),
        };
        self.events.clone().put_log(request).await.map_err(|s| self.error("EventsService/PutLog", &s))?;
        Ok(())
    }

    /// Marks the worker inactive (`Dispatcher/Unsubscribe`). Report in-flight tasks first, and keep
    /// heartbeating until then, or the engine reassigns them.
    pub async fn unsubscribe(&self, worker: &WorkerId) -> Result<(), HatchetError> {
        let request = proto::WorkerUnsubscribeRequest { worker_id: worker.to_string() };
        self.dispatcher.clone().unsubscribe(request).await.map_err(|s| self.error("Dispatcher/Unsubscribe", &s))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn completed_outputs_must_be_objects() {
        assert_eq!(StepEvent::completed(&json!({"y": 2})).unwrap().0, Step::Completed { output: r#"{"y":2}"#.into() });
        assert!(matches!(StepEvent::completed(&json!([1, 2])), Err(RequestError::NotAnObject { .. })));
        assert!(matches!(StepEvent::completed(&json!({"s": "\u{0}"})), Err(RequestError::ContainsNul { .. })));
        assert_eq!(StepEvent::failed_permanently("x").0, Step::Failed { error: "x".into(), retry: false });
    }

    #[test]
    fn slot_config_has_one_budget_per_type() {
        let slots = SlotConfig::new(4).with("fan", 100).to_proto().unwrap();
        assert_eq!(slots, HashMap::from([("default".to_owned(), 4), ("fan".to_owned(), 100)]));
        let err = SlotConfig::new(0).to_proto().unwrap_err();
        assert!(err.to_string().contains("0 (default)"), "{err}");
        let durable_only = SlotConfig::empty().with("durable", 5).to_proto().unwrap();
        assert_eq!(durable_only, HashMap::from([("durable".to_owned(), 5)]));
        assert!(SlotConfig::empty().to_proto().is_err());
    }
}
