//! Waiting for runs to finish: a [`RunWatcher`] multiplexes any number of runs over ONE long-lived
//! `Dispatcher/SubscribeToWorkflowRuns` stream; [`HatchetClient::run_outcome`] asks
//! `v1.AdminService/GetRunDetails` for one run.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::HatchetClient;
use crate::error::{HatchetError, RequestError};
use crate::ids::RunId;
use crate::proto;
use crate::proto::v1::RunStatus as WireStatus;
use crate::retry::backoff;
use crate::sweep::{self, SweepSchedule};

const SUBSCRIBE: &str = "Dispatcher/SubscribeToWorkflowRuns";
const DETAILS: &str = "v1.AdminService/GetRunDetails";
/// Consecutive failed (re)connects before every pending run gets the error.
const MAX_RECONNECTS: u32 = 10;
/// A stream that stayed open this long counts as healthy again.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How long to poll run details for a run the stream reported finished (writes are asynchronous).
const DETAILS_ATTEMPTS: u32 = 60;

/// Where a run is, as the engine's run details say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Waiting for a worker (or a concurrency slot).
    Queued,
    /// On a worker.
    Running,
    /// Succeeded.
    Completed,
    /// Failed for good.
    Failed,
    /// Cancelled (by a cancel request or a timeout).
    Cancelled,
    /// Taken off its worker; it will run again.
    Evicted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Evicted => "evicted",
        })
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// It succeeded. The value is its task's output; for a run of several tasks, an object of outputs
    /// keyed by task name. An empty output is `null`.
    Completed(serde_json::Value),
    /// It failed, was cancelled or timed out: one entry per task that did.
    Failed(Vec<TaskFailure>),
}

/// A task of a run that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The task's name.
    pub task_name: String,
    /// The error the worker reported, or the engine's reason (cancellation, timeout).
    pub error: String,
}

/// Delivers the outcome of runs. All watched runs share one subscription stream, whose background
/// task re-subscribes every pending run after a reconnect and fetches run details when the engine
/// withholds a result too large for the stream (outputs summing to its maximum message size, 4 MiB by
/// default). Runs that finish while the stream is down are found by sweeping run details after a
/// reconnect and when the stream stays quiet (see `sweep.rs`). Cheap to clone; the task ends when every clone is dropped and
/// no result is awaited. Create it inside a Tokio runtime.
#[derive(Clone)]
pub struct RunWatcher {
    commands: mpsc::UnboundedSender<(RunId, oneshot::Sender<Outcome>)>,
}

/// The outcome of a watched run, once it finishes. Dropping it stops waiting for it.
#[derive(Debug)]
pub struct PendingRun {
    outcome: oneshot::Receiver<Outcome>,
}

type Outcome = Result<RunOutcome, HatchetError>;
type Waiters = Vec<oneshot::Sender<Outcome>>;

impl RunWatcher {
    /// Starts the background task (the stream opens when the first run is watched). A run the
    /// engine still does not have 10 minutes after its first "not found" is reported
    /// [`HatchetError::RunLost`].
    pub fn new(client: &HatchetClient) -> Self {
        Self::with_lost_after(client, LOST_AFTER)
    }

    /// Like [`RunWatcher::new`], reporting a run lost once it has not been found for `lost_after`.
    pub fn with_lost_after(client: &HatchetClient, lost_after: Duration) -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        let (events_sender, events) = mpsc::unbounded_channel();
        let subscriptions = Subscriptions {
            client: client.clone(),
            commands: Some(receiver),
            events,
            events_sender,
            pending: HashMap::new(),
            link: Link::Idle,
            generation: 0,
            failures: 0,
            sweeps: SweepSchedule::new(Instant::now()),
            missed: 0,
            missing: HashMap::new(),
            lost_after,
        };
        tokio::spawn(subscriptions.run());
        Self { commands }
    }

    /// Waits for `run` to finish. Watching an already finished run works too (the engine looks it up).
    pub fn watch(&self, run: RunId) -> PendingRun {
        let (sender, outcome) = oneshot::channel();
        // If the task is gone the sender is dropped and the PendingRun reports WatcherStopped.
        let _ = self.commands.send((run, sender));
        PendingRun { outcome }
    }
}

impl std::fmt::Debug for RunWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunWatcher").finish_non_exhaustive()
    }
}

impl Future for PendingRun {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        self.outcome.poll_unpin(cx).map(|received| received.unwrap_or(Err(HatchetError::WatcherStopped)))
    }
}

/// What the stream reader reports to the subscription task.
enum Event {
    Run(proto::WorkflowRunEvent),
    Closed(Option<HatchetError>),
    /// A sweep found this run finished.
    Swept(RunId, RunOutcome),
    /// A sweep found that the engine has no such run.
    Missing(RunId),
    /// A sweep found this run queued or running.
    Present(RunId),
    /// A sweep ended, having found this many finished runs.
    SweepDone(usize),
}

enum Link {
    /// No stream; open one when runs are pending.
    Idle,
    /// A stream is open (or opening).
    Open {
        requests: futures::channel::mpsc::UnboundedSender<proto::SubscribeToWorkflowRunsRequest>,
        reader: JoinHandle<()>,
        since: Instant,
    },
    /// Waiting to reconnect.
    Backoff { until: Instant },
}

struct Subscriptions {
    client: HatchetClient,
    commands: Option<mpsc::UnboundedReceiver<(RunId, oneshot::Sender<Outcome>)>>,
    events: mpsc::UnboundedReceiver<(u64, Event)>,
    events_sender: mpsc::UnboundedSender<(u64, Event)>,
    pending: HashMap<RunId, Waiters>,
    link: Link,
    /// Numbers streams, so a late report from a replaced stream is recognised.
    generation: u64,
    failures: u32,
    sweeps: SweepSchedule,
    /// Runs the current sweep delivered that the stream had not.
    missed: usize,
    /// Pending runs the engine said it does not have, since when: a run still missing after
    /// `lost_after` was lost by the engine, and its waiters get [`HatchetError::RunLost`].
    missing: HashMap<RunId, Instant>,
    /// How long a run may stay missing before it counts as lost.
    lost_after: Duration,
}

/// How long a run the engine returned from a trigger may stay unknown to it ("not visible
/// yet": the engine creates runs from its queue, which a large fan-out can fill for minutes)
/// before it counts as lost.
const LOST_AFTER: Duration = Duration::from_secs(600);

impl Subscriptions {
    async fn run(mut self) {
        loop {
            if self.commands.is_none() {
                self.pending.retain(|_, waiters| waiters.iter().any(|waiter| !waiter.is_closed()));
                if self.pending.is_empty() {
                    break;
                }
            }
            if matches!(self.link, Link::Idle) && !self.pending.is_empty() {
                self.open();
            }
            let backoff_until = match self.link {
                Link::Backoff { until } => Some(until),
                _ => None,
            };
            let sweep_due = if self.pending.is_empty() { None } else { self.sweeps.due() };
            tokio::select! {
                command = recv(&mut self.commands) => match command {
                    Some((run, waiter)) => self.add(run, waiter),
                    None => self.commands = None,
                },
                Some((generation, event)) = self.events.recv() => match event {
                    Event::Run(event) => self.finished(event),
                    Event::Closed(error) if generation == self.generation => self.closed(error),
                    Event::Closed(_) => {}
                    Event::Swept(run, outcome) => self.swept(&run, outcome),
                    Event::Missing(run) => self.missing(run),
                    Event::Present(run) => {
                        self.missing.remove(&run);
                    }
                    Event::SweepDone(found) => self.sweep_done(found),
                },
                () = sleep_until(backoff_until) => self.link = Link::Idle,
                () = sleep_until(sweep_due) => self.sweep(),
            }
        }
        if let Link::Open { reader, .. } = &self.link {
            reader.abort();
        }
    }

    /// Opens a stream subscribed to every pending run.
    fn open(&mut self) {
        self.pending.retain(|_, waiters| waiters.iter().any(|waiter| !waiter.is_closed()));
        if self.pending.is_empty() {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        if generation > 1 {
            self.sweeps.reconnected(Instant::now());
        }
        let (requests, outbound) = futures::channel::mpsc::unbounded();
        for run in self.pending.keys() {
            let _ = requests.unbounded_send(subscribe(run));
        }
        tracing::debug!(pending = self.pending.len(), generation, "opening the run subscription stream");
        let client = self.client.clone();
        let events = self.events_sender.clone();
        // The call resolves only when the engine sends its first event, so it runs on its own task.
        let reader = tokio::spawn(async move {
            let closed = match client.dispatcher.clone().subscribe_to_workflow_runs(outbound).await {
                Err(status) => Some(client.error(SUBSCRIBE, &status)),
                Ok(response) => {
                    let mut stream = response.into_inner();
                    loop {
                        match stream.message().await {
                            Ok(Some(event)) => {
                                if events.send((generation, Event::Run(event))).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => break None,
                            Err(status) => break Some(client.error(SUBSCRIBE, &status)),
                        }
                    }
                }
            };
            let _ = events.send((generation, Event::Closed(closed)));
        });
        self.link = Link::Open { requests, reader, since: Instant::now() };
    }

    fn add(&mut self, run: RunId, waiter: oneshot::Sender<Outcome>) {
        // The engine silently ignores ids that are not UUIDs; the waiter would wait forever.
        if !is_uuid(run.as_str()) {
            let _ = waiter.send(Err(RequestError::InvalidRunId { run: run.to_string() }.into()));
            return;
        }
        if self.pending.is_empty() {
            self.sweeps.news(Instant::now());
        }
        let waiters = self.pending.entry(run.clone()).or_default();
        waiters.push(waiter);
        if waiters.len() == 1
            && let Link::Open { requests, .. } = &self.link
        {
            let _ = requests.unbounded_send(subscribe(&run));
        }
    }

    fn finished(&mut self, event: proto::WorkflowRunEvent) {
        self.failures = 0;
        self.sweeps.news(Instant::now());
        let run = RunId::from(event.workflow_run_id);
        self.missing.remove(&run);
        let Some(waiters) = self.pending.remove(&run) else { return };
        match outcome_from_results(&run, event.results) {
            Some(outcome) => send_all(waiters, &outcome),
            None => {
                tracing::debug!(%run, "the engine withheld the results; fetching run details");
                let client = self.client.clone();
                tokio::spawn(async move {
                    let outcome = client.wait_for_details(&run).await;
                    send_all(waiters, &outcome);
                });
            }
        }
    }

    /// Starts a sweep of every pending run's details on its own task.
    fn sweep(&mut self) {
        self.sweeps.started();
        let runs: Vec<RunId> = self.pending.keys().cloned().collect();
        tracing::debug!(pending = runs.len(), "sweeping run details");
        let client = self.client.clone();
        let events = self.events_sender.clone();
        tokio::spawn(async move {
            let found = sweep_details(&client, runs, |run, seen| {
                let event = match seen {
                    Seen::Finished(outcome) => Event::Swept(run, outcome),
                    Seen::Unfinished => Event::Present(run),
                    Seen::Missing => Event::Missing(run),
                };
                let _ = events.send((0, event));
            })
            .await;
            let _ = events.send((0, Event::SweepDone(found)));
        });
    }

    fn swept(&mut self, run: &RunId, outcome: RunOutcome) {
        self.missing.remove(run);
        // The stream may have reported it meanwhile.
        if let Some(waiters) = self.pending.remove(run) {
            self.missed += 1;
            send_all(waiters, &Ok(outcome));
        }
    }

    /// A sweep found no run `run`: right after its trigger that means "not visible yet"; still
    /// so `lost_after` later, the engine lost it.
    fn missing(&mut self, run: RunId) {
        if !self.pending.contains_key(&run) {
            self.missing.remove(&run);
            return;
        }
        let now = Instant::now();
        let since = *self.missing.entry(run.clone()).or_insert(now);
        let seconds = now.duration_since(since).as_secs();
        if seconds < self.lost_after.as_secs() {
            return;
        }
        self.missing.remove(&run);
        if let Some(waiters) = self.pending.remove(&run) {
            let err = HatchetError::RunLost { run: run.to_string(), seconds };
            tracing::error!(%err, "giving up on a run the engine does not have");
            send_all(waiters, &Err(err));
        }
    }

    fn sweep_done(&mut self, found: usize) {
        // Runs no longer pending (finished, failed, their waiters gone) need no count.
        let pending = &self.pending;
        self.missing.retain(|run, _| pending.contains_key(run));
        if self.missed > 0 {
            tracing::info!(
                runs = self.missed,
                "run details showed runs finished that the subscription stream did not report"
            );
            self.missed = 0;
        }
        self.sweeps.finished(Instant::now(), found);
    }

    fn closed(&mut self, error: Option<HatchetError>) {
        if let Link::Open { since, .. } = &self.link
            && since.elapsed() >= STABLE_AFTER
        {
            self.failures = 0;
        }
        self.link = Link::Idle;
        if self.pending.is_empty() {
            return;
        }
        if let Some(err) = error.as_ref().filter(|err| !err.is_retryable()) {
            self.fail_all(err);
            return;
        }
        self.failures += 1;
        if self.failures > MAX_RECONNECTS {
            let err = error.unwrap_or_else(|| HatchetError::Protocol {
                method: SUBSCRIBE,
                detail: format!("the engine closed the stream {MAX_RECONNECTS} times in a row"),
            });
            self.fail_all(&err);
            return;
        }
        let pause = backoff(self.failures, Duration::from_secs(30));
        match &error {
            Some(err) => {
                tracing::warn!(%err, ?pause, pending = self.pending.len(), "run subscription broke; reconnecting")
            }
            None => tracing::info!(
                ?pause,
                pending = self.pending.len(),
                "the engine closed the run subscription; reconnecting"
            ),
        }
        self.link = Link::Backoff { until: Instant::now() + pause };
    }

    fn fail_all(&mut self, err: &HatchetError) {
        tracing::error!(%err, pending = self.pending.len(), "giving up on the pending runs");
        self.failures = 0;
        for (_, waiters) in self.pending.drain() {
            send_all(waiters, &Err(err.clone()));
        }
    }
}

/// What a sweep learned of one run.
enum Seen {
    Finished(RunOutcome),
    Unfinished,
    /// The engine has no such run.
    Missing,
}

/// Asks run details for each of `runs`, calls `deliver` with what it learned of each, and
/// returns how many had finished. Other errors (the engine still restarting) leave a run to the
/// stream or the next sweep.
async fn sweep_details(client: &HatchetClient, runs: Vec<RunId>, mut deliver: impl FnMut(RunId, Seen)) -> usize {
    let mut outcomes = futures::stream::iter(runs)
        .map(|run| async move {
            let outcome = client.run_outcome(&run).await;
            (run, outcome)
        })
        .buffer_unordered(sweep::CONCURRENCY);
    let mut found = 0;
    while let Some((run, outcome)) = outcomes.next().await {
        match outcome {
            Ok(Some(outcome)) => {
                found += 1;
                deliver(run, Seen::Finished(outcome));
            }
            Ok(None) => deliver(run, Seen::Unfinished),
            Err(HatchetError::NotFound { .. }) => {
                tracing::debug!(%run, "sweep: the engine has no such run (yet)");
                deliver(run, Seen::Missing);
            }
            Err(err) => tracing::debug!(%run, %err, "sweep: no run details yet"),
        }
    }
    found
}

async fn recv<T>(receiver: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match receiver {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
    }
}

/// `8-4-4-4-12` hex digits, the shape of the engine's run ids.
fn is_uuid(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn subscribe(run: &RunId) -> proto::SubscribeToWorkflowRunsRequest {
    proto::SubscribeToWorkflowRunsRequest { workflow_run_id: run.to_string() }
}

fn send_all(waiters: Waiters, outcome: &Outcome) {
    for waiter in waiters {
        let _ = waiter.send(outcome.clone());
    }
}

impl HatchetClient {
    /// The outcome of `run` if it has finished, `None` while it is queued or running
    /// (`v1.AdminService/GetRunDetails`). `NotFound` right after triggering means "not visible yet".
    pub async fn run_outcome(&self, run: &RunId) -> Result<Option<RunOutcome>, HatchetError> {
        let request = proto::v1::GetRunDetailsRequest { external_id: run.to_string() };
        let details = self.admin.clone().get_run_details(request).await.map_err(|s| self.error(DETAILS, &s))?;
        outcome_from_details(run, details.into_inner())
    }

    /// Where `run` is (`v1.AdminService/GetRunDetails`).
    pub async fn run_status(&self, run: &RunId) -> Result<RunStatus, HatchetError> {
        let request = proto::v1::GetRunDetailsRequest { external_id: run.to_string() };
        let details = self.admin.clone().get_run_details(request).await.map_err(|s| self.error(DETAILS, &s))?;
        Ok(match details.into_inner().status() {
            WireStatus::Queued => RunStatus::Queued,
            WireStatus::Running => RunStatus::Running,
            WireStatus::Completed => RunStatus::Completed,
            WireStatus::Failed => RunStatus::Failed,
            WireStatus::Cancelled => RunStatus::Cancelled,
            WireStatus::Evicted => RunStatus::Evicted,
        })
    }

    /// Cancels runs (`v1.AdminService/CancelTasks`); returns the ids of the cancelled task runs.
    pub async fn cancel_runs(&self, runs: &[RunId]) -> Result<Vec<String>, HatchetError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let request = proto::v1::CancelTasksRequest {
            external_ids: runs.iter().map(ToString::to_string).collect(),
            filter: None,
        };
        self.cancel_tasks(request).await
    }

    /// Cancels the queued and running runs created since `since` whose additional metadata has
    /// `key` = `value` (`v1.AdminService/CancelTasks` with a filter); returns the ids of the runs
    /// cancelled. The engine selects at most 20,000 runs per call and reads them from its
    /// analytics tables, which lag a little behind: call again until it returns none.
    pub async fn cancel_runs_tagged(
        &self,
        key: &str,
        value: &str,
        since: std::time::SystemTime,
    ) -> Result<Vec<String>, HatchetError> {
        // The engine splits each pair on ':' and refuses any that does not give exactly two parts.
        if key.is_empty() || key.contains(':') || value.contains(':') {
            return Err(RequestError::InvalidMetadataFilter { key: key.to_owned(), value: value.to_owned() }.into());
        }
        let request = proto::v1::CancelTasksRequest {
            external_ids: Vec::new(),
            filter: Some(proto::v1::TasksFilter {
                statuses: vec!["QUEUED".to_owned(), "RUNNING".to_owned()],
                since: Some(since.into()),
                additional_metadata: vec![format!("{key}:{value}")],
            }),
        };
        self.cancel_tasks(request).await
    }

    /// `v1.AdminService/CancelTasks`: the ids of the runs cancelled.
    async fn cancel_tasks(&self, request: proto::v1::CancelTasksRequest) -> Result<Vec<String>, HatchetError> {
        let response = self
            .admin
            .clone()
            .cancel_tasks(request)
            .await
            .map_err(|s| self.error("v1.AdminService/CancelTasks", &s))?;
        Ok(response.into_inner().cancelled_tasks)
    }

    /// Polls run details of a run the stream reported finished, until they say so too.
    async fn wait_for_details(&self, run: &RunId) -> Outcome {
        let mut attempt = 1;
        loop {
            let err = match self.run_outcome(run).await {
                Ok(Some(outcome)) => return Ok(outcome),
                Ok(None) => HatchetError::Protocol {
                    method: DETAILS,
                    detail: format!("run {run} is reported finished but not done"),
                },
                Err(err @ HatchetError::NotFound { .. }) => err,
                Err(err) if err.is_retryable() => err,
                Err(err) => return Err(err),
            };
            if attempt >= DETAILS_ATTEMPTS {
                return Err(err);
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The outcome reported by the stream; `None` when the engine sent no results (withheld for size).
fn outcome_from_results(run: &RunId, results: Vec<proto::StepRunResult>) -> Option<Outcome> {
    if results.is_empty() {
        return None;
    }
    let failures: Vec<TaskFailure> = results
        .iter()
        .filter_map(|result| {
            // Cancelled tasks (timeouts, cancel requests) come with an empty error.
            let error = match result.error.as_deref()? {
                "" => "cancelled or failed without an error message".to_owned(),
                error => error.to_owned(),
            };
            Some(TaskFailure { task_name: result.task_name.clone(), error })
        })
        .collect();
    if !failures.is_empty() {
        return Some(Ok(RunOutcome::Failed(failures)));
    }
    let outputs = results.into_iter().map(|result| (result.task_name, result.output.unwrap_or_default().into_bytes()));
    Some(completed(run, SUBSCRIBE, outputs.collect()))
}

/// The outcome in run details; `None` while not done.
fn outcome_from_details(
    run: &RunId,
    details: proto::v1::GetRunDetailsResponse,
) -> Result<Option<RunOutcome>, HatchetError> {
    if !details.done {
        return Ok(None);
    }
    let mut failures: Vec<TaskFailure> = details
        .task_runs
        .iter()
        .filter(|(_, task)| matches!(task.status(), WireStatus::Failed | WireStatus::Cancelled))
        .map(|(name, task)| TaskFailure {
            task_name: name.clone(),
            // The engine sends `error: ""` for tasks without one.
            error: match task.error.as_deref() {
                Some(error) if !error.is_empty() => error.to_owned(),
                _ => format!("{:?}", task.status()).to_lowercase(),
            },
        })
        .collect();
    match details.status() {
        WireStatus::Completed if failures.is_empty() => {
            let outputs = details.task_runs.into_iter().map(|(name, task)| (name, task.output.unwrap_or_default()));
            completed(run, DETAILS, outputs.collect()).map(Some)
        }
        status @ (WireStatus::Completed | WireStatus::Failed | WireStatus::Cancelled) => {
            if failures.is_empty() {
                failures.push(TaskFailure {
                    task_name: String::new(),
                    error: format!("the run is {status:?}").to_lowercase(),
                });
            }
            failures.sort_by(|a, b| a.task_name.cmp(&b.task_name));
            Ok(Some(RunOutcome::Failed(failures)))
        }
        status => Err(HatchetError::Protocol { method: DETAILS, detail: format!("run {run} is done but {status:?}") }),
    }
}

/// `Completed` from `(task name, JSON output)` pairs: the single output, or an object keyed by task.
fn completed(run: &RunId, method: &'static str, mut outputs: Vec<(String, Vec<u8>)>) -> Outcome {
    let parse = |name: &str, bytes: &[u8]| -> Result<serde_json::Value, HatchetError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(bytes).map_err(|err| HatchetError::Protocol {
            method,
            detail: format!("the output of task {name:?} of run {run} is not JSON: {err}"),
        })
    };
    if let [(name, bytes)] = outputs.as_slice() {
        return Ok(RunOutcome::Completed(parse(name, bytes)?));
    }
    outputs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut object = serde_json::Map::new();
    for (name, bytes) in &outputs {
        object.insert(name.clone(), parse(name, bytes)?);
    }
    Ok(RunOutcome::Completed(serde_json::Value::Object(object)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run() -> RunId {
        RunId::from("3f1c0c36-0000-4000-8000-000000000001")
    }

    fn result(task: &str, output: Option<&str>, error: Option<&str>) -> proto::StepRunResult {
        proto::StepRunResult {
            task_name: task.into(),
            output: output.map(Into::into),
            error: error.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn stream_results_become_outcomes() {
        let outcome = outcome_from_results(&run(), vec![result("echo", Some(r#"{"echo":{"i":1}}"#), None)]);
        assert_eq!(outcome.unwrap().unwrap(), RunOutcome::Completed(json!({"echo": {"i": 1}})));
        let outcome = outcome_from_results(&run(), vec![result("a", Some("{}"), None), result("b", Some("1"), None)]);
        assert_eq!(outcome.unwrap().unwrap(), RunOutcome::Completed(json!({"a": {}, "b": 1})));
        let outcome = outcome_from_results(&run(), vec![result("echo", Some(""), None)]);
        assert_eq!(outcome.unwrap().unwrap(), RunOutcome::Completed(serde_json::Value::Null));
        let outcome = outcome_from_results(&run(), vec![result("echo", None, Some("boom"))]);
        assert_eq!(
            outcome.unwrap().unwrap(),
            RunOutcome::Failed(vec![TaskFailure { task_name: "echo".into(), error: "boom".into() }])
        );
        let outcome = outcome_from_results(&run(), vec![result("echo", None, Some(""))]);
        assert!(matches!(outcome, Some(Ok(RunOutcome::Failed(f))) if f[0].error.starts_with("cancelled or failed")));
        assert!(outcome_from_results(&run(), vec![]).is_none(), "withheld results fall back to run details");
        let err = outcome_from_results(&run(), vec![result("echo", Some("{oops"), None)]).unwrap().unwrap_err();
        assert!(err.to_string().contains(r#"the output of task "echo" of run 3f1c0c36"#), "{err}");
    }

    fn details(
        status: WireStatus,
        done: bool,
        tasks: Vec<(&str, WireStatus, Option<&str>, Option<&str>)>,
    ) -> proto::v1::GetRunDetailsResponse {
        proto::v1::GetRunDetailsResponse {
            status: status as i32,
            done,
            task_runs: tasks
                .into_iter()
                .map(|(name, status, output, error)| {
                    let detail = proto::v1::TaskRunDetail {
                        status: status as i32,
                        output: output.map(|o| o.as_bytes().to_vec()),
                        error: error.map(Into::into),
                        readable_id: name.into(),
                        ..Default::default()
                    };
                    (name.to_owned(), detail)
                })
                .collect(),
        }
    }

    #[test]
    fn run_details_become_outcomes() {
        let running = details(WireStatus::Running, false, vec![("echo", WireStatus::Running, None, None)]);
        assert_eq!(outcome_from_details(&run(), running).unwrap(), None);
        let done =
            details(WireStatus::Completed, true, vec![("echo", WireStatus::Completed, Some(r#"{"x":1}"#), Some(""))]);
        assert_eq!(outcome_from_details(&run(), done).unwrap(), Some(RunOutcome::Completed(json!({"x": 1}))));
        let failed = details(WireStatus::Failed, true, vec![("echo", WireStatus::Failed, None, Some("boom"))]);
        assert_eq!(
            outcome_from_details(&run(), failed).unwrap(),
            Some(RunOutcome::Failed(vec![TaskFailure { task_name: "echo".into(), error: "boom".into() }]))
        );
        let cancelled = details(WireStatus::Cancelled, true, vec![("echo", WireStatus::Cancelled, None, None)]);
        assert_eq!(
            outcome_from_details(&run(), cancelled).unwrap(),
            Some(RunOutcome::Failed(vec![TaskFailure { task_name: "echo".into(), error: "cancelled".into() }]))
        );
    }

    #[test]
    fn run_ids_are_uuids() {
        assert!(is_uuid(run().as_str()));
        assert!(is_uuid("3F1C0C36-0000-4000-8000-00000000000A"));
        assert!(!is_uuid("3f1c0c36-0000-4000-8000-00000000000"));
        assert!(!is_uuid("3f1c0c36_0000-4000-8000-000000000001"));
        assert!(!is_uuid("not a run"));
    }

    #[tokio::test]
    async fn pending_runs_report_a_stopped_watcher() {
        let (sender, outcome) = oneshot::channel::<Outcome>();
        drop(sender);
        assert!(matches!(PendingRun { outcome }.await, Err(HatchetError::WatcherStopped)));
    }
}
