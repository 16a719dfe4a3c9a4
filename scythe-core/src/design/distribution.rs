//! How a unit coordinate becomes a field value: [`Distribution::value`] for sampled designs,
//! [`Distribution::grid_values`] for grids.

use serde_json::Value;

use super::record::Distribution;

/// The smallest and largest unit coordinates passed to an inverse CDF with infinite tails.
const TAIL: f64 = f64::EPSILON / 2.0;

impl Distribution {
    /// The value at unit coordinate `u ∈ [0, 1]` (inverse-CDF transform).
    ///
    /// - `Uniform`: `low + u (high − low)`, within `[low, high]` (both inclusive: an exclusive
    ///   schema bound becomes the nearest value inside it before it gets here). An integer
    ///   field divides `[0, 1)` into one equal stratum per integer of `low..=high`, so every
    ///   integer is reachable and a Latin hypercube holds each equally often.
    /// - `LogUniform`: `exp(ln low + u (ln high − ln low))`.
    /// - `Normal`: `mean + sd Φ⁻¹(u)`, `u` kept within `[2⁻⁵³, 1 − 2⁻⁵³]` so values are finite.
    /// - `Categorical`: value `⌊u k⌋` of `k`, stratified like integers.
    pub fn value(&self, u: f64) -> Value {
        match self {
            Distribution::Uniform { integer: true, .. } => Value::from(self.integer(u)),
            Distribution::Categorical { values } => values.get(self.choice(u)).cloned().unwrap_or(Value::Null),
            _ => number(self.number(u)),
        }
    }

    /// [`Distribution::value`] of a real-valued distribution (`Uniform` of a real field,
    /// `LogUniform`, `Normal`); NaN for the others.
    pub(crate) fn number(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        match self {
            Distribution::Uniform { low, high, .. } => (low + u * (high - low)).clamp(*low, *high),
            Distribution::LogUniform { low, high } => (low.ln() + u * (high.ln() - low.ln())).exp().clamp(*low, *high),
            Distribution::Normal { mean, sd } => mean + sd * inverse_normal_cdf(u.clamp(TAIL, 1.0 - TAIL)),
            Distribution::Categorical { .. } => f64::NAN,
        }
    }

    /// [`Distribution::value`] of an integer `Uniform`: one equal stratum of `[0, 1)` per
    /// integer of `low..=high`.
    pub(crate) fn integer(&self, u: f64) -> i64 {
        let u = u.clamp(0.0, 1.0);
        let Distribution::Uniform { low, high, .. } = self else { return 0 };
        let (low, high) = (low.ceil() as i64, high.floor() as i64);
        let count = high.saturating_sub(low).saturating_add(1).max(1);
        let offset = ((u * count as f64) as i64).min(count - 1);
        low.saturating_add(offset)
    }

    /// [`Distribution::value`] of a `Categorical`: the index `⌊u k⌋` of its `k` values.
    pub(crate) fn choice(&self, u: f64) -> usize {
        let u = u.clamp(0.0, 1.0);
        let count = match self {
            Distribution::Categorical { values } => values.len().max(1),
            _ => 1,
        };
        ((u * count as f64) as usize).min(count - 1)
    }

    /// The levels of this dimension in a grid with `points` points per numeric field: evenly
    /// spaced from `low` to `high` (geometrically for `LogUniform`; integers rounded and
    /// deduplicated; a single point is the middle), the quantiles `(i + ½)/points` for
    /// `Normal`, and every value of a `Categorical`.
    pub fn grid_values(&self, points: usize) -> Vec<Value> {
        let points = points.max(1);
        let at = |i: usize| if points == 1 { 0.5 } else { i as f64 / (points - 1) as f64 };
        match self {
            Distribution::Categorical { values } => values.clone(),
            Distribution::Uniform { low, high, integer: true } => {
                let mut levels: Vec<i64> =
                    (0..points).map(|i| (low + at(i) * (high - low)).round().clamp(*low, *high) as i64).collect();
                levels.dedup();
                levels.into_iter().map(Value::from).collect()
            }
            Distribution::Normal { .. } => (0..points).map(|i| self.value((i as f64 + 0.5) / points as f64)).collect(),
            Distribution::Uniform { .. } | Distribution::LogUniform { .. } => {
                (0..points).map(|i| self.value(at(i))).collect()
            }
        }
    }

    /// Whether the parameters make sense (finite, ordered, positive where needed); says why not.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Distribution::Uniform { low, high, .. } if !(low.is_finite() && high.is_finite() && low <= high) => {
                Err(format!("uniform bounds must be finite with low <= high, not [{low}, {high}]"))
            }
            Distribution::Uniform { low, high, integer: true } if low.ceil() > high.floor() => {
                Err(format!("no integer lies in [{low}, {high}]"))
            }
            Distribution::LogUniform { low, high }
                if !(low.is_finite() && high.is_finite() && 0.0 < *low && low < high) =>
            {
                Err(format!("loguniform needs 0 < a < b, not ({low}, {high})"))
            }
            Distribution::Normal { mean, sd } if !(mean.is_finite() && sd.is_finite() && *sd > 0.0) => {
                Err(format!("normal needs a finite mean and sd > 0, not ({mean}, {sd})"))
            }
            Distribution::Categorical { values } if values.is_empty() => Err("no values to choose from".to_owned()),
            _ => Ok(()),
        }
    }
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Φ⁻¹, the standard normal quantile, by Acklam's rational approximation (relative error below
/// 1.2·10⁻⁹ on `(0, 1)`), for `0 < p < 1`.
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    const LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_normal_matches_known_quantiles() {
        // Reference quantiles to 15 digits; Acklam's bound is 1.2e-9 relative.
        for (p, z) in
            [(0.5, 0.0), (0.975, 1.959_963_984_540_054), (0.841_344_746_068_543, 1.0), (1e-10, -6.361_340_902_404_056)]
        {
            let got = inverse_normal_cdf(p);
            assert!((got - z).abs() <= 2e-9 * z.abs().max(1.0), "Φ⁻¹({p}) = {got}, expected {z}");
            // 1 − p rounds for tiny p (1 − 1e-10 keeps only ~7 digits of p), so symmetry is
            // checked where 1 − p is exact enough.
            if p > 1e-3 {
                assert!((inverse_normal_cdf(1.0 - p) + got).abs() < 1e-8, "symmetry at {p}");
            }
        }
    }

    #[test]
    fn every_integer_is_reachable_with_equal_strata() {
        let dist = Distribution::Uniform { low: -2.0, high: 3.0, integer: true };
        let n = 600;
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..n {
            let value = dist.value((f64::from(i) + 0.5) / f64::from(n)).as_i64().expect("an integer");
            *counts.entry(value).or_insert(0) += 1;
        }
        assert_eq!(counts.keys().copied().collect::<Vec<_>>(), [-2, -1, 0, 1, 2, 3]);
        assert!(counts.values().all(|&c| c == 100), "{counts:?}");
        assert_eq!(dist.value(1.0), Value::from(3));
        assert_eq!(dist.value(0.0), Value::from(-2));
    }

    #[test]
    fn continuous_values_stay_within_bounds() {
        let uniform = Distribution::Uniform { low: 1.5, high: 2.5, integer: false };
        let log = Distribution::LogUniform { low: 1e-3, high: 10.0 };
        for u in [0.0, 1e-17, 0.25, 0.999_999_999, 1.0] {
            let x = uniform.value(u).as_f64().expect("a number");
            assert!((1.5..=2.5).contains(&x));
            let y = log.value(u).as_f64().expect("a number");
            assert!((1e-3..=10.0).contains(&y));
        }
        // The median of a log-uniform is the geometric mean of its bounds.
        let median = log.value(0.5).as_f64().expect("a number");
        assert!((median - 0.1).abs() < 1e-12);
        let normal = Distribution::Normal { mean: 10.0, sd: 2.0 };
        assert!(normal.value(0.0).as_f64().is_some_and(f64::is_finite));
        assert!((normal.value(0.975).as_f64().unwrap_or_default() - (10.0 + 2.0 * 1.959_963_984_540_054)).abs() < 1e-7);
    }

    #[test]
    fn categorical_strata_and_grid_levels() {
        let dist = Distribution::Categorical { values: vec!["a".into(), "b".into(), "c".into()] };
        assert_eq!(dist.value(0.0), "a");
        assert_eq!(dist.value(0.5), "b");
        assert_eq!(dist.value(1.0), "c");
        assert_eq!(dist.grid_values(2).len(), 3);
        let uniform = Distribution::Uniform { low: 0.0, high: 1.0, integer: false };
        assert_eq!(uniform.grid_values(3), [Value::from(0.0), Value::from(0.5), Value::from(1.0)]);
        let integers = Distribution::Uniform { low: 0.0, high: 2.0, integer: true };
        assert_eq!(integers.grid_values(5), [Value::from(0), Value::from(1), Value::from(2)]);
        assert!(Distribution::LogUniform { low: 0.0, high: 1.0 }.check().is_err());
        assert!(Distribution::Uniform { low: 0.2, high: 0.8, integer: true }.check().is_err());
    }
}
