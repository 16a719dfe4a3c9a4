//! What Scythe's tasks do when a worker runs them: a leaf runs its specs, a scatter node spawns
//! its children, waits for them and (the root) gathers.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;

use scythe_core::layout::RunId;
use scythe_hatchet::{
    AssignedAction, HatchetClient, HatchetError, RunId as EngineRunId, RunOutcome, RunWatcher, TriggerRequest,
};

use super::fanout::{Children, FANOUT};
use super::{Handler, RangeInput, RangeOutput, SCATTER_GATHER, hatchet_error, leaf_task, limited_leaf_task};
use crate::api::Scythe;
use crate::error::Error;
use crate::registry::Registered;

pub(super) async fn run_action(
    client: &HatchetClient,
    scythe: &Scythe,
    handler: &Handler,
    action: &AssignedAction,
) -> Result<RangeOutput, Error> {
    let input: RangeInput = action.input().map_err(hatchet_error)?;
    let run: RunId = input.run.parse()?;
    match handler {
        Handler::Leaf(experiment) => {
            // A leaf the engine still hands out after `cancel` (spawned as the run was cancelled)
            // runs nothing.
            let layout = scythe_core::layout::RunLayout::new(scythe.store().prefix(), run.clone());
            if crate::cancel::is_cancelled(scythe.store(), &layout).await? {
                return Err(Error::RunCancelled { run: run.to_string() });
            }
            extend_deadline(client, experiment.as_ref(), action, input.end.saturating_sub(input.start)).await;
            let report = scythe
                .without_cache_if(input.no_cache)
                .work_registered(Arc::clone(experiment), &run, input.start..input.end, action.retry_count == 0)
                .await?;
            Ok(RangeOutput {
                succeeded: report.succeeded,
                failed: report.failed,
                missing: 0,
                explanation: report.explanation,
            })
        }
        Handler::Root(experiments) => {
            let experiment = experiments.get(run.experiment()).cloned().ok_or_else(|| Error::UnknownExperiment {
                name: run.experiment().to_owned(),
                registered: experiments.keys().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", "),
            })?;
            scatter_node(client, scythe, experiment, action, &run, input).await
        }
    }
}

/// A leaf's registered execution timeout covers the experiment's `batch` specs; a larger batch
/// (chosen at scatter time) asks the engine for `timeout` per spec of the whole batch (enough
/// whether the engine counts the increment from now or from the current deadline).
async fn extend_deadline(client: &HatchetClient, experiment: &dyn Registered, action: &AssignedAction, n_specs: u64) {
    let config = experiment.config();
    let covered = u64::from(config.batch.unwrap_or(1).max(1));
    if n_specs <= covered {
        return;
    }
    let specs = u32::try_from(n_specs).unwrap_or(u32::MAX);
    if let Err(error) = client.refresh_timeout(action, config.timeout.saturating_mul(specs)).await {
        tracing::warn!(%error, n_specs, "could not extend the leaf's timeout for its batch");
    }
}

/// One scatter node: spawns its children, waits for them, records those that failed for good,
/// and (the root only) gathers.
async fn scatter_node(
    client: &HatchetClient,
    scythe: &Scythe,
    experiment: Arc<dyn Registered>,
    action: &AssignedAction,
    run: &RunId,
    input: RangeInput,
) -> Result<RangeOutput, Error> {
    let fanout = if input.fanout > 0 { input.fanout } else { FANOUT };
    let batch = input.batch.max(1);
    let children = super::fanout::children(input.start..input.end, batch, fanout);
    let limited = input.max_concurrency > 0;
    let leaf =
        if limited { limited_leaf_task(experiment.schema().name()) } else { leaf_task(experiment.schema().name()) };
    // Leaves are cut from sort index 0 in steps of `batch`, so a leaf's number is the same in
    // whichever node spawns it: lanes are dealt round robin over the whole run.
    let lane = |range: &std::ops::Range<u64>| {
        if limited { format!("{}#{}", input.run, (range.start / batch) % input.max_concurrency) } else { String::new() }
    };
    let mut requests = Vec::with_capacity(children.ranges().len());
    for (index, range) in children.ranges().iter().enumerate() {
        let (task, child) = match children {
            Children::Leaves(_) => {
                let leaf_input = RangeInput {
                    lane: lane(range),
                    priority: input.priority,
                    no_cache: input.no_cache,
                    ..RangeInput::leaf(&input.run, range.clone())
                };
                (leaf.as_str(), leaf_input)
            }
            Children::Nodes(_) => (
                SCATTER_GATHER,
                RangeInput { start: range.start, end: range.end, level: input.level + 1, ..input.clone() },
            ),
        };
        // `experiment_id` on every task of the run lets `cancel` find them all by metadata.
        let metadata = serde_json::json!({"experiment_id": input.run, "level": input.level, "index": index});
        let request = TriggerRequest::new(task, &child)
            .and_then(|request| request.metadata(&metadata))
            .map_err(hatchet_error)?
            .child_of(action, index as u32);
        // The run's priority orders its leaves among the leaves of other runs of the experiment.
        requests.push(match input.engine_priority() {
            Some(priority) => request.priority(priority),
            None => request,
        });
    }
    let ids = client.bulk_trigger(requests).await.map_err(hatchet_error)?;
    let outcomes = wait_for_children(client, scythe, run, children.ranges(), ids).await;
    // Children of a cancelled run end cancelled: their specs are not lost, `resume` runs them.
    let layout = scythe_core::layout::RunLayout::new(scythe.store().prefix(), run.clone());
    if crate::cancel::is_cancelled(scythe.store(), &layout).await? {
        return Err(Error::RunCancelled { run: run.to_string() });
    }
    let mut total = RangeOutput::default();
    for (range, outcome) in children.ranges().iter().zip(outcomes) {
        let reason = match outcome {
            Ok(RunOutcome::Completed(output)) => {
                if let Ok(output) = serde_json::from_value::<RangeOutput>(output) {
                    total.succeeded += output.succeeded;
                    total.failed += output.failed;
                    total.explanation.merge(output.explanation);
                }
                continue;
            }
            Ok(RunOutcome::Failed(failures)) => {
                failures.iter().map(|f| f.error.as_str()).collect::<Vec<_>>().join("; ")
            }
            Err(error) => error.to_string(),
        };
        // Only the specs of `range` that have no result yet are recorded.
        let what = if matches!(children, Children::Leaves(_)) { "leaf" } else { "scatter" };
        scythe
            .record_lost(Arc::clone(&experiment), run, range.clone(), &format!("the {what} task failed: {reason}"))
            .await?;
    }
    if input.level > 0 {
        return Ok(total);
    }
    let summary = scythe.gather_registered(experiment, run).await?;
    Ok(RangeOutput {
        succeeded: summary.succeeded,
        failed: summary.failed,
        missing: summary.missing,
        explanation: total.explanation,
    })
}

/// How long a scatter node waits without any child finishing before it looks in storage.
const STALL: Duration = Duration::from_secs(60);

/// The outcome of each child, in order. The engine can lose a child's completion (an event
/// accepted just before the engine restarted), after which it counts the child as running until
/// its execution timeout: for a leaf, `timeout` times its specs. So when no child has finished
/// for [`STALL`], the node lists the run's result parts once; a child whose specs all have a
/// result is done — it counts as completed, and its engine run is cancelled to free the slot
/// the engine still holds for it. A child the engine accepted and then lost (it never has a run
/// of that id: [`HatchetError::RunLost`]) ends as failed, so its specs are recorded as lost
/// (`resume --retry-failed` runs them): triggering it again with the same parent and index
/// would only return the same id.
async fn wait_for_children(
    client: &HatchetClient,
    scythe: &Scythe,
    run: &RunId,
    ranges: &[Range<u64>],
    ids: Vec<EngineRunId>,
) -> Vec<Result<RunOutcome, HatchetError>> {
    let watcher = RunWatcher::new(client);
    let watch = |i: usize, id: EngineRunId| {
        let pending = watcher.watch(id);
        async move { (i, pending.await) }
    };
    let mut waiting: FuturesUnordered<_> = ids.iter().enumerate().map(|(i, id)| watch(i, id.clone())).collect();
    let mut outcomes: Vec<Option<Result<RunOutcome, HatchetError>>> = ranges.iter().map(|_| None).collect();
    let mut left = outcomes.len();
    while left > 0 {
        tokio::select! {
            next = waiting.next() => {
                let Some((i, outcome)) = next else { break };
                if outcomes[i].is_some() {
                    continue;
                }
                outcomes[i] = Some(outcome);
                left -= 1;
            }
            () = tokio::time::sleep(STALL) => {
                let open: Vec<usize> = (0..outcomes.len()).filter(|&i| outcomes[i].is_none()).collect();
                let open_ranges: Vec<Range<u64>> = open.iter().map(|&i| ranges[i].clone()).collect();
                let done = match scythe.have_results(run, &open_ranges).await {
                    Ok(done) => done,
                    Err(error) => {
                        tracing::warn!(%error, "could not check the results of children that have not finished");
                        continue;
                    }
                };
                let mut stuck = Vec::new();
                for (&i, done) in open.iter().zip(done) {
                    if done {
                        let specs = ranges[i].end - ranges[i].start;
                        let output = serde_json::json!(RangeOutput { succeeded: specs, ..RangeOutput::default() });
                        outcomes[i] = Some(Ok(RunOutcome::Completed(output)));
                        left -= 1;
                        stuck.push(ids[i].clone());
                    }
                }
                if !stuck.is_empty() {
                    tracing::warn!(
                        children = stuck.len(),
                        "children whose specs all have results are still running in the engine (a lost completion); counting them done and cancelling them"
                    );
                    if let Err(error) = client.cancel_runs(&stuck).await {
                        tracing::warn!(%error, "could not cancel children that had finished");
                    }
                }
            }
        }
    }
    outcomes.into_iter().map(|outcome| outcome.unwrap_or(Err(HatchetError::WatcherStopped))).collect()
}
