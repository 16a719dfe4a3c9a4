//! Worker labels: what a worker advertises ([`LabelValue`]) and what a task or run asks of the worker
//! that runs it ([`DesiredLabel`]).

use crate::proto;

/// A worker label's value: a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LabelValue {
    /// A string, e.g. `"gpu"`.
    Str(String),
    /// An integer, e.g. memory in GiB (comparable with `<`, `>`).
    Int(i32),
}

impl From<&str> for LabelValue {
    fn from(value: &str) -> Self {
        Self::Str(value.to_owned())
    }
}

impl From<String> for LabelValue {
    fn from(value: String) -> Self {
        Self::Str(value)
    }
}

impl From<i32> for LabelValue {
    fn from(value: i32) -> Self {
        Self::Int(value)
    }
}

/// How a worker's label is compared with the desired value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LabelComparator {
    /// `worker == desired` (the default).
    #[default]
    Equal,
    /// `worker != desired`.
    NotEqual,
    /// `worker > desired`.
    GreaterThan,
    /// `worker >= desired`.
    GreaterThanOrEqual,
    /// `worker < desired`.
    LessThan,
    /// `worker <= desired`.
    LessThanOrEqual,
}

/// A label the worker running a task should have (weighted preference) or must have (`required`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DesiredLabel {
    /// The value compared with the worker's label.
    pub value: LabelValue,
    /// Only workers that satisfy it may run the task.
    pub required: bool,
    /// How the worker's label is compared with `value`.
    pub comparator: LabelComparator,
    /// Preference weight among workers that satisfy it; the engine's default is 100.
    pub weight: Option<i32>,
}

impl DesiredLabel {
    /// Workers must have the label equal to `value`.
    pub fn required(value: impl Into<LabelValue>) -> Self {
        Self { value: value.into(), required: true, comparator: LabelComparator::Equal, weight: None }
    }

    /// Workers with the label equal to `value` are preferred, with this weight.
    pub fn preferred(value: impl Into<LabelValue>, weight: i32) -> Self {
        Self { value: value.into(), required: false, comparator: LabelComparator::Equal, weight: Some(weight) }
    }

    /// Compares with `comparator` instead of equality.
    pub fn compared_by(mut self, comparator: LabelComparator) -> Self {
        self.comparator = comparator;
        self
    }

    fn parts(&self) -> (Option<String>, Option<i32>, i32) {
        let comparator = match self.comparator {
            LabelComparator::Equal => 0,
            LabelComparator::NotEqual => 1,
            LabelComparator::GreaterThan => 2,
            LabelComparator::GreaterThanOrEqual => 3,
            LabelComparator::LessThan => 4,
            LabelComparator::LessThanOrEqual => 5,
        };
        match &self.value {
            LabelValue::Str(s) => (Some(s.clone()), None, comparator),
            LabelValue::Int(i) => (None, Some(*i), comparator),
        }
    }

    pub(crate) fn to_workflow_proto(&self) -> proto::v1::DesiredWorkerLabels {
        let (str_value, int_value, comparator) = self.parts();
        proto::v1::DesiredWorkerLabels {
            str_value,
            int_value,
            required: Some(self.required),
            comparator: Some(comparator),
            weight: self.weight,
        }
    }

    pub(crate) fn to_trigger_proto(&self) -> proto::TriggerDesiredLabel {
        let (str_value, int_value, comparator) = self.parts();
        proto::TriggerDesiredLabel {
            str_value,
            int_value,
            required: Some(self.required),
            comparator: Some(comparator),
            weight: self.weight,
        }
    }
}

impl LabelValue {
    pub(crate) fn to_worker_proto(&self) -> proto::WorkerLabels {
        match self {
            Self::Str(s) => proto::WorkerLabels { str_value: Some(s.clone()), int_value: None },
            Self::Int(i) => proto::WorkerLabels { str_value: None, int_value: Some(*i) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparator_numbers_match_the_wire() {
        let label = DesiredLabel::required(8).compared_by(LabelComparator::GreaterThanOrEqual);
        let wire = label.to_workflow_proto();
        assert_eq!(wire.comparator, Some(proto::v1::WorkerLabelComparator::GreaterThanOrEqual as i32));
        assert_eq!((wire.int_value, wire.str_value), (Some(8), None));
        let wire = DesiredLabel::preferred("gpu", 50).to_trigger_proto();
        assert_eq!(wire.comparator, Some(proto::TriggerLabelComparator::Equal as i32));
        assert_eq!((wire.required, wire.weight), (Some(false), Some(50)));
    }
}
