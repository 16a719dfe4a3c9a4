//! Starting runs: [`TriggerRequest`]s sent with [`HatchetClient::bulk_trigger`]
//! (`WorkflowService/BulkTriggerWorkflow`) in chunks the engine accepts.

use std::collections::BTreeMap;

use prost::Message;
use serde::Serialize;

use crate::action::AssignedAction;
use crate::client::{HatchetClient, MAX_MESSAGE_BYTES};
use crate::error::{HatchetError, RequestError};
use crate::ids::RunId;
use crate::json;
use crate::labels::DesiredLabel;
use crate::proto;
use crate::retry::{ATTEMPTS, retry_when};
use crate::workflow::check_name;

/// Most requests per `BulkTriggerWorkflow` call (Hatchet's documented limit).
pub const MAX_BULK_ITEMS: usize = 1000;
/// Most encoded bytes per `BulkTriggerWorkflow` call: the 4 MiB message limit minus headroom.
pub const MAX_BULK_BYTES: usize = MAX_MESSAGE_BYTES - 16 * 1024;

const METHOD: &str = "WorkflowService/BulkTriggerWorkflow";

/// Run priority; the engine's default is [`Priority::Low`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// 1.
    Low,
    /// 2.
    Medium,
    /// 3.
    High,
}

impl Priority {
    /// The engine's number for it: 1 (low) to 3 (high).
    pub fn level(self) -> u8 {
        match self {
            Priority::Low => 1,
            Priority::Medium => 2,
            Priority::High => 3,
        }
    }

    /// The priority of engine number `level`, if it is 1 to 3.
    pub fn from_level(level: u8) -> Option<Self> {
        match level {
            1 => Some(Priority::Low),
            2 => Some(Priority::Medium),
            3 => Some(Priority::High),
            _ => None,
        }
    }

    /// `low`, `medium` or `high`.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

/// One run to start: a workflow (by its name without namespace) and its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRequest {
    workflow: String,
    input: String,
    parent: Option<Parent>,
    child_key: Option<String>,
    metadata: Option<String>,
    priority: Option<Priority>,
    desired_labels: BTreeMap<String, DesiredLabel>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Parent {
    run_id: RunId,
    task_run_id: String,
    child_index: u32,
}

impl TriggerRequest {
    /// A run of `workflow` with `input`, which must serialize to a JSON object without `\u0000`.
    pub fn new(workflow: impl Into<String>, input: &impl Serialize) -> Result<Self, RequestError> {
        Ok(Self {
            workflow: workflow.into(),
            input: json::to_object("workflow input", input)?,
            parent: None,
            child_key: None,
            metadata: None,
            priority: None,
            desired_labels: BTreeMap::new(),
        })
    }

    /// Makes the run a child of the task `parent` is running, at position `child_index` among the
    /// children of this attempt (count from 0 across all spawns of the attempt). The engine then
    /// dedupes: triggering the same parent/index again returns the existing run, which makes retrying
    /// safe.
    pub fn child_of(mut self, parent: &AssignedAction, child_index: u32) -> Self {
        self.parent = Some(Parent {
            run_id: parent.workflow_run_id.clone(),
            task_run_id: parent.task_run_id.clone(),
            child_index,
        });
        self
    }

    /// A stable key for a child (dedupes by key instead of index).
    pub fn child_key(mut self, key: impl Into<String>) -> Self {
        self.child_key = Some(key.into());
        self
    }

    /// Additional metadata shown with the run (and usable in concurrency expressions); a JSON object.
    pub fn metadata(mut self, metadata: &impl Serialize) -> Result<Self, RequestError> {
        self.metadata = Some(json::to_object("additional metadata", metadata)?);
        Ok(self)
    }

    /// Overrides the workflow's priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Asks for (or requires) a worker label for this run, overriding the workflow's.
    pub fn desired_label(mut self, key: impl Into<String>, label: DesiredLabel) -> Self {
        self.desired_labels.insert(key.into(), label);
        self
    }

    /// The wire request; `name` is the namespaced workflow name.
    fn into_proto(self, name: String) -> Result<proto::TriggerWorkflowRequest, RequestError> {
        check_name("workflow name", &name)?;
        let (parent_id, parent_task_run_external_id, child_index) = match self.parent {
            None => (None, None, None),
            Some(parent) => {
                let index = i32::try_from(parent.child_index).map_err(|_| RequestError::OutOfRange {
                    what: "child index",
                    value: parent.child_index.to_string(),
                    min: "0".into(),
                    max: i32::MAX.to_string(),
                })?;
                (Some(parent.run_id.to_string()), Some(parent.task_run_id), Some(index))
            }
        };
        Ok(proto::TriggerWorkflowRequest {
            name,
            input: self.input,
            parent_id,
            parent_task_run_external_id,
            child_index,
            child_key: self.child_key,
            additional_metadata: self.metadata,
            priority: self.priority.map(|priority| i32::from(priority.level())),
            desired_worker_labels: self.desired_labels.iter().map(|(k, v)| (k.clone(), v.to_trigger_proto())).collect(),
        })
    }
}

impl HatchetClient {
    /// Starts one run per request and returns their ids in the same order.
    ///
    /// Requests go out in sequential chunks of at most [`MAX_BULK_ITEMS`] and [`MAX_BULK_BYTES`]. A chunk
    /// made only of children ([`TriggerRequest::child_of`]) is retried on transient errors, which the
    /// engine's child dedupe makes safe; other chunks are retried only when the engine refused them
    /// unprocessed (rate limit), since a retry after a lost answer would start duplicates. If a chunk
    /// fails after earlier ones went through, the error is [`HatchetError::PartiallyTriggered`] with the
    /// ids started so far.
    pub async fn bulk_trigger(&self, requests: Vec<TriggerRequest>) -> Result<Vec<RunId>, HatchetError> {
        let total = requests.len();
        let wire = requests
            .into_iter()
            .map(|request| {
                let name = self.namespaced(&request.workflow);
                request.into_proto(name)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut run_ids = Vec::with_capacity(total);
        for chunk in chunks(wire, MAX_BULK_ITEMS, MAX_BULK_BYTES)? {
            let sent = chunk.len();
            let dedupes = chunk.iter().all(|request| request.child_index.is_some());
            let request = proto::BulkTriggerWorkflowRequest { workflows: chunk };
            let worth_retrying = |err: &HatchetError| {
                if dedupes { err.is_retryable() } else { matches!(err, HatchetError::ResourceExhausted { .. }) }
            };
            let result = retry_when("triggering runs", ATTEMPTS, worth_retrying, || async {
                self.workflows.clone().bulk_trigger_workflow(request.clone()).await.map_err(|s| self.error(METHOD, &s))
            })
            .await
            .and_then(|response| {
                let ids = response.into_inner().workflow_run_ids;
                if ids.len() == sent {
                    Ok(ids)
                } else {
                    Err(HatchetError::Protocol {
                        method: METHOD,
                        detail: format!("{} run ids for {sent} requests", ids.len()),
                    })
                }
            });
            match result {
                Ok(ids) => run_ids.extend(ids.into_iter().map(RunId::from)),
                Err(err) if run_ids.is_empty() => return Err(err),
                Err(err) => {
                    return Err(HatchetError::PartiallyTriggered { triggered: run_ids, total, source: Box::new(err) });
                }
            }
        }
        Ok(run_ids)
    }
}

/// Splits `items` into consecutive chunks of at most `max_items` whose repeated-field encoding stays
/// within `max_bytes`. An item too large on its own is an error.
pub(crate) fn chunks<T: Message>(
    items: Vec<T>,
    max_items: usize,
    max_bytes: usize,
) -> Result<Vec<Vec<T>>, RequestError> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut current_bytes = 0;
    for (index, item) in items.into_iter().enumerate() {
        let len = item.encoded_len();
        // One tag byte (field 1, length-delimited), the length prefix, the message.
        let bytes = 1 + prost::length_delimiter_len(len) + len;
        if bytes > max_bytes {
            return Err(RequestError::TooLarge { index, bytes, limit: max_bytes });
        }
        if current.len() == max_items || current_bytes + bytes > max_bytes {
            chunks.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current.push(item);
        current_bytes += bytes;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn priorities_round_trip_through_their_levels() {
        for priority in [Priority::Low, Priority::Medium, Priority::High] {
            assert_eq!(Priority::from_level(priority.level()), Some(priority));
        }
        assert_eq!((Priority::Low.level(), Priority::High.level(), Priority::High.name()), (1, 3, "high"));
        assert_eq!((Priority::from_level(0), Priority::from_level(4)), (None, None));
    }

    fn request(input_bytes: usize) -> proto::TriggerWorkflowRequest {
        proto::TriggerWorkflowRequest {
            name: "simulate".into(),
            input: format!(r#"{{"pad":"{}"}}"#, "x".repeat(input_bytes)),
            ..Default::default()
        }
    }

    #[test]
    fn chunks_by_count() {
        let items: Vec<_> = (0..2501).map(|_| request(10)).collect();
        let sizes: Vec<usize> = chunks(items, MAX_BULK_ITEMS, MAX_BULK_BYTES).unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [1000, 1000, 501]);
        assert!(chunks(Vec::<proto::TriggerWorkflowRequest>::new(), 10, 100).unwrap().is_empty());
    }

    #[test]
    fn chunks_by_encoded_size() {
        // ~100 KiB inputs: about 40 fit in 4 MiB.
        let items: Vec<_> = (0..100).map(|_| request(100 * 1024)).collect();
        let chunked = chunks(items, MAX_BULK_ITEMS, MAX_BULK_BYTES).unwrap();
        assert_eq!(chunked.iter().map(Vec::len).sum::<usize>(), 100);
        for chunk in &chunked {
            let encoded = proto::BulkTriggerWorkflowRequest { workflows: chunk.clone() }.encoded_len();
            assert!(encoded <= MAX_BULK_BYTES, "{encoded}");
            assert!(encoded < MAX_MESSAGE_BYTES);
        }
        assert_eq!(chunked[0].len(), 40);
        // The size accounting is exact: a chunk filled to the byte is accepted.
        let one = request(1000);
        let exact = proto::BulkTriggerWorkflowRequest { workflows: vec![one.clone(), one.clone()] }.encoded_len();
        assert_eq!(chunks(vec![one.clone(), one.clone()], 10, exact).unwrap().len(), 1);
        assert_eq!(chunks(vec![one.clone(), one], 10, exact - 1).unwrap().len(), 2);
    }

    #[test]
    fn rejects_a_single_oversized_request() {
        let items = vec![request(10), request(MAX_BULK_BYTES)];
        let err = chunks(items, MAX_BULK_ITEMS, MAX_BULK_BYTES).unwrap_err();
        assert!(matches!(err, RequestError::TooLarge { index: 1, .. }), "{err}");
    }

    #[test]
    fn children_carry_their_parent_and_index() {
        let parent = AssignedAction::from(proto::AssignedAction {
            workflow_run_id: "parent-run".into(),
            task_run_external_id: "parent-task".into(),
            ..Default::default()
        });
        let wire = TriggerRequest::new("w", &json!({}))
            .unwrap()
            .child_of(&parent, 7)
            .child_key("exp-7")
            .priority(Priority::High)
            .desired_label("gpu", DesiredLabel::required("yes"))
            .into_proto("ns_w".into())
            .unwrap();
        assert_eq!(wire.name, "ns_w");
        assert_eq!(wire.parent_id.as_deref(), Some("parent-run"));
        assert_eq!(wire.parent_task_run_external_id.as_deref(), Some("parent-task"));
        assert_eq!((wire.child_index, wire.child_key.as_deref(), wire.priority), (Some(7), Some("exp-7"), Some(3)));
        assert_eq!(wire.desired_worker_labels["gpu"].required, Some(true));
        let top = TriggerRequest::new("w", &json!({})).unwrap().into_proto("w".into()).unwrap();
        assert_eq!((top.parent_id, top.child_index), (None, None));
        assert!(TriggerRequest::new("w", &json!({})).unwrap().into_proto("a b".into()).is_err());
    }

    #[test]
    fn validates_inputs_and_metadata() {
        assert!(matches!(TriggerRequest::new("w", &json!([1])), Err(RequestError::NotAnObject { .. })));
        assert!(matches!(TriggerRequest::new("w", &json!({"a": "\u{0}"})), Err(RequestError::ContainsNul { .. })));
        let request = TriggerRequest::new("w", &json!({"a": 1})).unwrap();
        assert!(matches!(request.clone().metadata(&json!("x")), Err(RequestError::NotAnObject { .. })));
        assert_eq!(request.metadata(&json!({"index": 3})).unwrap().metadata.as_deref(), Some(r#"{"index":3}"#));
    }
}
