//! What a worker declares to the engine: one leaf workflow per experiment and the scatter/gather
//! workflow, with their input JSON Schemas, retries, timeouts, labels and concurrency.

use scythe_hatchet::{Concurrency, ConcurrencyStrategy, DesiredLabel, WorkflowDefinition};

use super::{NODE_RETRIES, ROOT_TIMEOUT, SCATTER_GATHER, leaf_task, limited_leaf_task};
use crate::registry::Registered;

pub(super) fn leaf_definition(experiment: &dyn Registered) -> WorkflowDefinition {
    leaf_named(experiment, leaf_task(experiment.config().name))
}

/// The leaf of runs scattered with `--max-concurrency N`: the engine's concurrency group is the
/// leaf's lane (`input.lane`, one of N per run, keyed by the run), one leaf per lane at a time,
/// lanes taken round robin. The limit N is in the input, not the definition (the engine fixes
/// `max_runs` at registration), and other runs, with lanes of their own, are not held back.
pub(super) fn limited_leaf_definition(experiment: &dyn Registered) -> WorkflowDefinition {
    leaf_named(experiment, limited_leaf_task(experiment.config().name)).concurrency(Concurrency {
        expression: "input.lane".to_owned(),
        max_runs: 1,
        strategy: ConcurrencyStrategy::GroupRoundRobin,
    })
}

fn leaf_named(experiment: &dyn Registered, name: String) -> WorkflowDefinition {
    let config = experiment.config();
    let spec = experiment.schema().input().json_schema();
    let mut definition = WorkflowDefinition::single_task(name)
        .description(config.description)
        .input_json_schema(&range_schema(&format!("A batch of `{}` specs", config.name), Some(spec)))
        .retries(config.retries.max(1))
        .execution_timeout(config.timeout.saturating_mul(config.batch.unwrap_or(1).max(1)))
        .schedule_timeout(config.schedule_timeout);
    for (label, wanted) in [
        ("high_memory", config.labels.high_memory),
        ("high_cpu", config.labels.high_cpu),
        ("has_gpu", config.labels.has_gpu),
    ] {
        if wanted {
            definition = definition.desired_label(label, DesiredLabel::required("yes"));
        }
    }
    // A leaf runs its specs one at a time, so leaves at once = specs at once.
    if let Some(limit) = config.concurrency {
        definition = definition.concurrency(Concurrency::total(limit));
    }
    definition
}

pub(super) fn root_definition() -> WorkflowDefinition {
    WorkflowDefinition::single_task(SCATTER_GATHER)
        .description("Scythe: fan a run out to its experiment's leaves, then gather the final tables.")
        .input_json_schema(&range_schema("A range of a run's specs to fan out", None))
        .retries(NODE_RETRIES)
        .execution_timeout(ROOT_TIMEOUT)
        .schedule_timeout(ROOT_TIMEOUT)
        .durable()
}

/// JSON Schema of [`RangeInput`], for the dashboard; `spec` is the experiment's input schema (the
/// rows of `specs.pq` that the range selects).
fn range_schema(title: &str, spec: Option<&serde_json::Value>) -> serde_json::Value {
    let count = |description: &str| serde_json::json!({"type": "integer", "minimum": 0, "description": description});
    let mut schema = serde_json::json!({
        "title": title,
        "type": "object",
        "required": ["run", "start", "end"],
        "properties": {
            "run": {"type": "string", "description": "<experiment>/<vX.Y.Z>/<timestamp>: the run whose specs.pq holds the specs"},
            "start": count("first sort index"),
            "end": count("one past the last sort index"),
            "batch": count("specs per leaf (scatter nodes)"),
            "fanout": count("most children per scatter node (scatter nodes)"),
            "level": count("depth of a scatter node; 0 gathers"),
            "max_concurrency": count("most leaves of the run at once (scatter nodes; 0: no limit)"),
            "lane": {"type": "string", "description": "concurrency group of a leaf of a limited run: <run>#<k>"},
            "no_cache": {"type": "boolean", "description": "the run was scattered with --no-cache: leaves reuse no result"},
            "priority": {"type": "integer", "minimum": 0, "maximum": 3, "description": "engine priority of the run's tasks, 1 (low) to 3 (high); 0: the engine's default"},
        },
    });
    if let Some(spec) = spec {
        schema["$comment"] = "each sort index selects one row of specs.pq, described by `x-scythe-spec`".into();
        schema["x-scythe-spec"] = spec.clone();
    }
    schema
}
