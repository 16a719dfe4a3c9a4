//! Declaring what workers can run: a single-task [`WorkflowDefinition`], registered with
//! [`HatchetClient::register_workflow`] (`v1.AdminService/PutWorkflow`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::client::HatchetClient;
use crate::duration;
use crate::error::{HatchetError, RequestError};
use crate::ids::ActionId;
use crate::labels::DesiredLabel;
use crate::proto::v1 as proto;
use crate::retry::{ATTEMPTS, retry};

/// A workflow with one task of the same name: what Scythe runs per experiment. Defaults are the
/// engine's: no retries, 60 s execution timeout, 5 min schedule timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowDefinition {
    name: String,
    description: String,
    input_json_schema: Option<Vec<u8>>,
    retries: u32,
    execution_timeout: Option<Duration>,
    schedule_timeout: Option<Duration>,
    desired_labels: BTreeMap<String, DesiredLabel>,
    concurrency: Vec<Concurrency>,
    backoff: Option<Backoff>,
    durable: bool,
}

/// The slot type of ordinary tasks.
pub const DEFAULT_SLOT_TYPE: &str = "default";
/// The slot type of [durable](WorkflowDefinition::durable) tasks.
pub const DURABLE_SLOT_TYPE: &str = "durable";

/// Limits how many runs of the task execute at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concurrency {
    /// CEL expression over the run's `input` / `additional_metadata` naming the group, e.g.
    /// `"input.user_id"`; [`Concurrency::total`] uses one constant group.
    pub expression: String,
    /// Runs per group at once (fixed when the workflow is registered; to choose a limit per
    /// trigger, give each trigger one of N group keys with `max_runs: 1`).
    pub max_runs: u32,
    /// What happens to runs over the limit.
    pub strategy: ConcurrencyStrategy,
}

/// What happens to runs over a [`Concurrency`] limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConcurrencyStrategy {
    /// Queue them, taking groups in turn (the default).
    #[default]
    GroupRoundRobin,
    /// Cancel the running ones in favour of new ones.
    CancelInProgress,
    /// Cancel the new ones.
    CancelNewest,
}

impl Concurrency {
    /// At most `max_runs` runs at once across all inputs, the rest queued.
    pub fn total(max_runs: u32) -> Self {
        Self { expression: "'constant'".into(), max_runs, strategy: ConcurrencyStrategy::GroupRoundRobin }
    }
}

/// Exponential backoff between retries: the n-th retry waits `factor^n` seconds, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Growth factor, 1 to 1000.
    pub factor: f32,
    /// Longest wait, 1 s to 24 h.
    pub max: Duration,
}

/// A registered workflow: its namespaced name and the action id workers must advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredWorkflow {
    /// The namespaced name to trigger runs with.
    pub name: String,
    /// `"<name, lower-case>:<task name>"`, for [`HatchetClient::register_worker`].
    pub action: ActionId,
    /// The engine's id of the workflow.
    pub workflow_id: String,
    /// The engine's id of this version of it.
    pub version_id: String,
}

impl WorkflowDefinition {
    /// A workflow named `name` (letters, digits, `.`, `-`, `_`) whose single task is also `name`.
    pub fn single_task(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            input_json_schema: None,
            retries: 0,
            execution_timeout: None,
            schedule_timeout: None,
            desired_labels: BTreeMap::new(),
            concurrency: Vec::new(),
            backoff: None,
            durable: false,
        }
    }

    /// Marks the task durable: a run takes a [`DURABLE_SLOT_TYPE`] slot of the worker's
    /// [`SlotConfig`](crate::SlotConfig) instead of a [default](DEFAULT_SLOT_TYPE) one. For tasks
    /// that mostly wait on children, so that waiting parents cannot hold the slots their children
    /// need. (The engine always adds one unit of `default` or `durable` to a task's slot requests,
    /// so a task cannot be given a slot type of its own.)
    pub fn durable(mut self) -> Self {
        self.durable = true;
        self
    }

    /// Shown in the dashboard.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// JSON Schema of the input (shown in the dashboard's trigger form).
    pub fn input_json_schema(mut self, schema: &serde_json::Value) -> Self {
        self.input_json_schema = Some(schema.to_string().into_bytes());
        self
    }

    /// Extra attempts after a failure (each gets the next `retry_count`).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// How long one attempt may run before the engine cancels it (extend it with
    /// [`HatchetClient::refresh_timeout`]).
    pub fn execution_timeout(mut self, timeout: Duration) -> Self {
        self.execution_timeout = Some(timeout);
        self
    }

    /// How long a run may wait for a worker before the engine cancels it. Set it to cover the whole
    /// queue when triggering many runs.
    pub fn schedule_timeout(mut self, timeout: Duration) -> Self {
        self.schedule_timeout = Some(timeout);
        self
    }

    /// Asks for (or requires) a worker label.
    pub fn desired_label(mut self, key: impl Into<String>, label: DesiredLabel) -> Self {
        self.desired_labels.insert(key.into(), label);
        self
    }

    /// Limits concurrent runs; each call adds a limit, and a run waits until every one lets it.
    pub fn concurrency(mut self, concurrency: Concurrency) -> Self {
        self.concurrency.push(concurrency);
        self
    }

    /// Waits between retries.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// The name as given (without namespace); also the task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine request, with the namespace applied to the workflow name.
    pub(crate) fn to_proto(&self, namespaced_name: &str) -> Result<proto::CreateWorkflowVersionRequest, RequestError> {
        check_name("workflow name", &self.name)?;
        check_name("namespaced workflow name", namespaced_name)?;
        let retries = i32::try_from(self.retries).map_err(|_| out_of_range("retries", self.retries, 0, i32::MAX))?;
        let (backoff_factor, backoff_max_seconds) = match self.backoff {
            None => (None, None),
            Some(Backoff { factor, max }) => {
                if !(1.0..=1000.0).contains(&factor) {
                    return Err(out_of_range("backoff factor", factor, 1, 1000));
                }
                let max_secs = max.as_secs();
                if !(1..=86_400).contains(&max_secs) {
                    return Err(out_of_range("backoff max seconds", max_secs, 1, 86_400));
                }
                (Some(factor), i32::try_from(max_secs).ok())
            }
        };
        let concurrency = self
            .concurrency
            .iter()
            .map(|concurrency| {
                let max_runs = i32::try_from(concurrency.max_runs)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| out_of_range("concurrency max runs", concurrency.max_runs, 1, i32::MAX))?;
                let strategy = match concurrency.strategy {
                    ConcurrencyStrategy::GroupRoundRobin => proto::ConcurrencyLimitStrategy::GroupRoundRobin,
                    ConcurrencyStrategy::CancelInProgress => proto::ConcurrencyLimitStrategy::CancelInProgress,
                    ConcurrencyStrategy::CancelNewest => proto::ConcurrencyLimitStrategy::CancelNewest,
                };
                Ok(proto::Concurrency {
                    expression: concurrency.expression.clone(),
                    max_runs: Some(max_runs),
                    limit_strategy: Some(strategy as i32),
                })
            })
            .collect::<Result<Vec<_>, RequestError>>()?;
        let task = proto::CreateTaskOpts {
            readable_id: self.name.clone(),
            action: action_id(namespaced_name, &self.name).to_string(),
            timeout: match self.execution_timeout {
                Some(timeout) => duration::to_hatchet("execution timeout", timeout)?,
                None => String::new(),
            },
            inputs: "{}".into(),
            retries,
            worker_labels: self.desired_labels.iter().map(|(k, v)| (k.clone(), v.to_workflow_proto())).collect(),
            backoff_factor,
            backoff_max_seconds,
            concurrency,
            schedule_timeout: self
                .schedule_timeout
                .map(|timeout| duration::to_hatchet("schedule timeout", timeout))
                .transpose()?,
            is_durable: self.durable,
            slot_requests: HashMap::from([(
                if self.durable { DURABLE_SLOT_TYPE } else { DEFAULT_SLOT_TYPE }.to_owned(),
                1,
            )]),
        };
        Ok(proto::CreateWorkflowVersionRequest {
            name: namespaced_name.to_owned(),
            description: self.description.clone(),
            tasks: vec![task],
            input_json_schema: self.input_json_schema.clone(),
        })
    }
}

impl HatchetClient {
    /// Registers (or updates) `workflow` under the namespaced name (`v1.AdminService/PutWorkflow`).
    /// Idempotent: an unchanged definition keeps its version. Retries transient errors.
    pub async fn register_workflow(&self, workflow: &WorkflowDefinition) -> Result<RegisteredWorkflow, HatchetError> {
        let name = self.namespaced(workflow.name());
        let request = workflow.to_proto(&name)?;
        let response = retry("registering a workflow", ATTEMPTS, || async {
            self.admin
                .clone()
                .put_workflow(request.clone())
                .await
                .map_err(|s| self.error("v1.AdminService/PutWorkflow", &s))
        })
        .await?
        .into_inner();
        Ok(RegisteredWorkflow {
            action: action_id(&name, workflow.name()),
            name,
            workflow_id: response.workflow_id,
            version_id: response.id,
        })
    }
}

/// `"<workflow name, lower-case>:<task name>"`, the convention of Hatchet's SDKs.
pub(crate) fn action_id(namespaced_workflow: &str, task: &str) -> ActionId {
    ActionId::from(format!("{}:{task}", namespaced_workflow.to_lowercase()))
}

/// Hatchet's rule for workflow and task names: `^[a-zA-Z0-9.\-_]+$`.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), RequestError> {
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid { Ok(()) } else { Err(RequestError::InvalidName { what, name: name.to_owned() }) }
}

fn out_of_range(what: &'static str, value: impl ToString, min: impl ToString, max: impl ToString) -> RequestError {
    RequestError::OutOfRange { what, value: value.to_string(), min: min.to_string(), max: max.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelValue;

    #[test]
    fn builds_the_single_task_request() {
        let workflow = WorkflowDefinition::single_task("Simulate")
            .description("one experiment")
            .input_json_schema(&serde_json::json!({"type": "object"}))
            .retries(2)
            .execution_timeout(Duration::from_secs(600))
            .schedule_timeout(Duration::from_secs(3600))
            .desired_label("gpu", DesiredLabel::required("yes"))
            .concurrency(Concurrency::total(8))
            .concurrency(Concurrency {
                expression: "input.lane".into(),
                max_runs: 1,
                strategy: ConcurrencyStrategy::GroupRoundRobin,
            })
            .backoff(Backoff { factor: 2.0, max: Duration::from_secs(60) });
        let request = workflow.to_proto("ci_Simulate").unwrap();
        assert_eq!(request.name, "ci_Simulate");
        assert_eq!(request.input_json_schema.as_deref(), Some(br#"{"type":"object"}"#.as_slice()));
        let task = &request.tasks[0];
        assert_eq!(task.readable_id, "Simulate");
        assert_eq!(task.action, "ci_simulate:Simulate");
        assert_eq!((task.timeout.as_str(), task.schedule_timeout.as_deref()), ("10m", Some("1h")));
        assert_eq!(task.retries, 2);
        assert_eq!((task.backoff_factor, task.backoff_max_seconds), (Some(2.0), Some(60)));
        assert_eq!(task.concurrency[0].expression, "'constant'");
        assert_eq!(task.concurrency[0].limit_strategy, Some(proto::ConcurrencyLimitStrategy::GroupRoundRobin as i32));
        assert_eq!((task.concurrency[1].expression.as_str(), task.concurrency[1].max_runs), ("input.lane", Some(1)));
        assert_eq!(task.worker_labels["gpu"].str_value.as_deref(), Some("yes"));
        assert_eq!(task.slot_requests, HashMap::from([("default".to_owned(), 1)]));
        assert_eq!(LabelValue::from(3), LabelValue::Int(3));
        let fan = WorkflowDefinition::single_task("fan").durable().to_proto("fan").unwrap();
        assert!(fan.tasks[0].is_durable);
        assert_eq!(fan.tasks[0].slot_requests, HashMap::from([("durable".to_owned(), 1)]));
    }

    #[test]
    fn refuses_what_the_engine_would() {
        let err = WorkflowDefinition::single_task("my workflow").to_proto("my workflow").unwrap_err();
        assert!(matches!(err, RequestError::InvalidName { .. }), "{err}");
        let bad_backoff =
            WorkflowDefinition::single_task("w").backoff(Backoff { factor: 0.5, max: Duration::from_secs(1) });
        assert!(matches!(bad_backoff.to_proto("w"), Err(RequestError::OutOfRange { .. })));
        let zero = WorkflowDefinition::single_task("w").execution_timeout(Duration::ZERO);
        assert!(matches!(zero.to_proto("w"), Err(RequestError::OutOfRange { .. })));
        let none = WorkflowDefinition::single_task("w").concurrency(Concurrency::total(0));
        assert!(matches!(none.to_proto("w"), Err(RequestError::OutOfRange { .. })));
    }
}
