//! What the engine asks a worker to do: [`AssignedAction`]s, delivered by an [`ActionStream`]
//! (`Dispatcher/ListenV2`) that reconnects by itself.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::HatchetClient;
use crate::error::HatchetError;
use crate::ids::{RunId, WorkerId};
use crate::proto;
use crate::retry::backoff;

const LISTEN: &str = "Dispatcher/ListenV2";
/// Consecutive failed reconnects before the stream gives up (Hatchet's Python SDK uses 15).
const MAX_RECONNECTS: u32 = 15;
/// A stream that stayed open this long counts as healthy again.
const STABLE_AFTER: Duration = Duration::from_secs(30);

/// What an [`AssignedAction`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Run the task: report STARTED, then COMPLETED or FAILED.
    Start,
    /// Stop the task's local execution (timeout or user cancel); report nothing.
    Cancel,
    /// A kind this client does not serve (batch tasks, legacy group keys), with its wire number.
    Unsupported(i32),
}

/// A task assignment (or cancellation) from the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignedAction {
    /// What to do.
    pub kind: ActionKind,
    /// The workflow run this task belongs to.
    pub workflow_run_id: RunId,
    /// This task run's id; the same for every attempt (for a single-task workflow it equals
    /// `workflow_run_id`).
    pub task_run_id: String,
    /// The action id, `"<workflow>:<task>"`.
    pub action_id: String,
    /// The task's name.
    pub task_name: String,
    /// The attempt: 0 for the first, then 1, 2, …
    pub retry_count: u32,
    /// 1 (low) to 3 (high).
    pub priority: i32,
    /// The run's additional metadata (a JSON object), if any.
    pub additional_metadata: Option<String>,
    /// For a child run: its parent's workflow run id.
    pub parent_run_id: Option<RunId>,
    /// For a child run: its index among the parent's children.
    pub child_index: Option<i32>,
    /// For a child run: its key, if the parent gave one.
    pub child_key: Option<String>,
    payload: String,
    job_id: String,
    job_run_id: String,
    task_id: String,
}

/// The task payload is not what the worker expected.
#[derive(Debug, thiserror::Error)]
#[error("the input of task run {task_run_id} does not match the expected type: {source}")]
pub struct PayloadError {
    task_run_id: String,
    #[source]
    source: serde_json::Error,
}

impl AssignedAction {
    /// The run's input (the payload's `"input"` object), deserialized.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        #[derive(Deserialize)]
        struct Payload<T> {
            input: T,
        }
        serde_json::from_str::<Payload<T>>(&self.payload)
            .map(|payload| payload.input)
            .map_err(|source| PayloadError { task_run_id: self.task_run_id.clone(), source })
    }

    /// The whole payload, JSON: `{"input": {...}, "parents": {...}, ...}`.
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// The step event for this action, with the ids the engine expects echoed back.
    pub(crate) fn event(&self, worker: &WorkerId) -> proto::StepActionEvent {
        proto::StepActionEvent {
            worker_id: worker.to_string(),
            job_id: self.job_id.clone(),
            job_run_id: self.job_run_id.clone(),
            task_id: self.task_id.clone(),
            task_run_external_id: self.task_run_id.clone(),
            action_id: self.action_id.clone(),
            event_timestamp: Some(std::time::SystemTime::now().into()),
            event_type: proto::StepActionEventType::Unknown as i32,
            event_payload: String::new(),
            retry_count: Some(self.retry_count_wire()),
            should_not_retry: None,
        }
    }

    pub(crate) fn retry_count_wire(&self) -> i32 {
        i32::try_from(self.retry_count).unwrap_or(i32::MAX)
    }
}

impl From<proto::AssignedAction> for AssignedAction {
    fn from(action: proto::AssignedAction) -> Self {
        let kind = match proto::ActionType::try_from(action.action_type) {
            Ok(proto::ActionType::StartStepRun) => ActionKind::Start,
            Ok(proto::ActionType::CancelStepRun) => ActionKind::Cancel,
            _ => ActionKind::Unsupported(action.action_type),
        };
        Self {
            kind,
            workflow_run_id: RunId::from(action.workflow_run_id),
            task_run_id: action.task_run_external_id,
            action_id: action.action_id,
            task_name: action.task_name,
            retry_count: u32::try_from(action.retry_count).unwrap_or(0),
            priority: action.priority,
            additional_metadata: action.additional_metadata,
            parent_run_id: action.parent_workflow_run_id.map(RunId::from),
            child_index: action.child_workflow_index,
            child_key: action.child_workflow_key,
            payload: action.action_payload,
            job_id: action.job_id,
            job_run_id: action.job_run_id,
            task_id: action.task_id,
        }
    }
}

/// The actions assigned to a worker, as they arrive. A background task reads the gRPC stream into an
/// unbounded buffer (the engine fails assignments to workers that do not drain their stream within
/// 250 ms) and reopens it with backoff when it breaks. The stream yields an error, and ends, only when
/// the engine refuses the worker (e.g. an unknown id) or 15 reconnects in a row fail. Dropping it stops
/// listening, which the engine sees as the worker going inactive.
pub struct ActionStream {
    actions: mpsc::UnboundedReceiver<Result<AssignedAction, HatchetError>>,
    reader: JoinHandle<()>,
}

impl ActionStream {
    pub(crate) fn spawn(client: HatchetClient, worker: WorkerId) -> Self {
        let (sender, actions) = mpsc::unbounded_channel();
        let reader = tokio::spawn(listen(client, worker, sender));
        Self { actions, reader }
    }
}

impl Stream for ActionStream {
    type Item = Result<AssignedAction, HatchetError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().actions.poll_recv(cx)
    }
}

impl Drop for ActionStream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl std::fmt::Debug for ActionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionStream").finish_non_exhaustive()
    }
}

type Sender = mpsc::UnboundedSender<Result<AssignedAction, HatchetError>>;

/// Keeps a ListenV2 stream open and forwards its actions. The engine sends no response headers
/// before the first action, so opening the stream can take as long as the first assignment.
async fn listen(client: HatchetClient, worker: WorkerId, sender: Sender) {
    let mut failures = 0;
    loop {
        let opened = Instant::now();
        let ended = match client.open_listen(&worker).await {
            Err(err) => Some(err),
            Ok(mut stream) => loop {
                match stream.message().await {
                    Ok(Some(action)) => {
                        failures = 0;
                        if sender.send(Ok(action.into())).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break None,
                    Err(status) => break Some(client.error(LISTEN, &status)),
                }
            },
        };
        if opened.elapsed() >= STABLE_AFTER {
            failures = 0;
        }
        if let Some(err) = ended.as_ref().filter(|err| !err.is_retryable()) {
            let _ = sender.send(Err(err.clone()));
            return;
        }
        failures += 1;
        if failures > MAX_RECONNECTS {
            let err = ended.unwrap_or_else(|| HatchetError::Protocol {
                method: LISTEN,
                detail: format!("the engine closed the stream {MAX_RECONNECTS} times in a row"),
            });
            let _ = sender.send(Err(err));
            return;
        }
        let pause = backoff(failures, Duration::from_secs(10));
        match &ended {
            Some(err) => tracing::warn!(%err, %worker, ?pause, "listen stream broke; reopening"),
            None => tracing::info!(%worker, ?pause, "the engine closed the listen stream; reopening"),
        }
        tokio::time::sleep(pause).await;
        if sender.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wire() -> proto::AssignedAction {
        proto::AssignedAction {
            workflow_run_id: "run-1".into(),
            task_run_external_id: "task-1".into(),
            action_id: "echo:echo".into(),
            action_type: proto::ActionType::StartStepRun as i32,
            action_payload: json!({"input": {"x": 1.5}, "parents": {}, "triggered_by": "manual"}).to_string(),
            retry_count: 2,
            job_id: "job".into(),
            ..Default::default()
        }
    }

    #[test]
    fn reads_the_typed_input() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Input {
            x: f64,
        }
        let action = AssignedAction::from(wire());
        assert_eq!(action.kind, ActionKind::Start);
        assert_eq!(action.input::<Input>().unwrap(), Input { x: 1.5 });
        assert_eq!(action.input::<serde_json::Value>().unwrap(), json!({"x": 1.5}));
        let err = action.input::<Vec<u8>>().unwrap_err();
        assert!(err.to_string().starts_with("the input of task run task-1 does not match the expected type"));
    }

    #[test]
    fn echoes_the_ids_in_events() {
        let action = AssignedAction::from(wire());
        let event = action.event(&WorkerId::from("w"));
        assert_eq!((event.task_run_external_id.as_str(), event.job_id.as_str()), ("task-1", "job"));
        assert_eq!(event.retry_count, Some(2));
        let cancel = AssignedAction::from(proto::AssignedAction { action_type: 1, ..wire() });
        assert_eq!(cancel.kind, ActionKind::Cancel);
        let batch = AssignedAction::from(proto::AssignedAction { action_type: 3, ..wire() });
        assert_eq!(batch.kind, ActionKind::Unsupported(3));
    }
}
