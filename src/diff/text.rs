//! The terminal rendering of a [`RunDiff`].

use std::fmt;

use super::{RunDiff, RunSide};

impl fmt::Display for RunDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.outputs.iter().flat_map(|o| &o.columns).map(|c| c.column.len()).max().unwrap_or(0).max(6);
        let side = |run: &RunSide| {
            format!("{}  ({} specs{})", run.run, run.n_specs, if run.complete { "" } else { ", not gathered" })
        };
        writeln!(f, "a          {}", side(&self.a))?;
        writeln!(f, "b          {}", side(&self.b))?;
        let breaking = self.schema.iter().filter(|c| c.breaking).count();
        match self.schema.len() {
            0 => writeln!(f, "schema     unchanged")?,
            n => writeln!(f, "schema     {n} changes ({breaking} breaking)")?,
        }
        for change in &self.schema {
            writeln!(f, "  {:<8} {change}", change.role.to_string())?;
        }
        writeln!(
            f,
            "specs      {} in both, {} only in a, {} only in b (matched on {})",
            self.common,
            self.only_a,
            self.only_b,
            if self.matched_on.is_empty() { "no common input field".to_owned() } else { self.matched_on.join(", ") }
        )?;
        for (label, examples, total) in
            [("only a", &self.only_a_examples, self.only_a), ("only b", &self.only_b_examples, self.only_b)]
        {
            for example in examples {
                writeln!(f, "  {label}   sort_index {}: {}", example.sort_index, example.inputs)?;
            }
            if total > examples.len() as u64 {
                writeln!(f, "  {label}   … and {} more", total - examples.len() as u64)?;
            }
        }
        let Some(outputs) = &self.outputs else {
            let pending: Vec<&str> =
                [&self.a, &self.b].into_iter().filter(|r| !r.complete).map(|r| r.run.as_str()).collect();
            return writeln!(f, "outputs    not compared: `gather {}` first", pending.join("` and `gather "));
        };
        writeln!(
            f,
            "outputs    {} of {} common specs changed ({} columns compared)",
            outputs.changed_specs,
            outputs.compared,
            outputs.columns.len()
        )?;
        if outputs.succeeded_only_in_a > 0 {
            writeln!(f, "  {} common specs succeeded in a only (failed or not run in b)", outputs.succeeded_only_in_a)?;
        }
        if outputs.succeeded_only_in_b > 0 {
            writeln!(f, "  {} common specs succeeded in b only (failed or not run in a)", outputs.succeeded_only_in_b)?;
        }
        if !outputs.columns.is_empty() {
            writeln!(
                f,
                "  {:<width$}  {:>9}  {:>12}  largest change (sort_index in a, in b: inputs)",
                "column", "changed", "max |Δ|"
            )?;
        }
        for column in &outputs.columns {
            let size = if !column.numeric {
                "–".to_owned()
            } else {
                format!("{:.6}", column.max_abs_change).trim_end_matches('0').trim_end_matches('.').to_owned()
            };
            let at = match (column.largest_a, column.largest_b) {
                (Some(a), Some(b)) => {
                    let values = match (&column.value_a, &column.value_b) {
                        (Some(x), Some(y)) => format!("{x} → {y}  "),
                        _ => String::new(),
                    };
                    let spec = column.spec.as_deref().map(|s| format!(": {s}")).unwrap_or_default();
                    format!("{values}(a #{a}, b #{b}{spec})")
                }
                _ => "–".to_owned(),
            };
            writeln!(f, "  {:<width$}  {:>9}  {:>12}  {at}", column.column, column.changed, size, width = width)?;
        }
        if !outputs.not_compared.is_empty() {
            writeln!(
                f,
                "  not compared: {} (not a column of scalars.pq in both runs, or retyped)",
                outputs.not_compared.join(", ")
            )?;
        }
        Ok(())
    }
}
