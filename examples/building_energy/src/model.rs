//! A lumped RC (one resistance, one capacitance) thermal model of a
//! single-zone, single-storey, box-shaped building with ideal heating and
//! cooling, simulated hour by hour over a weather year.
//!
//! Physics, per hour with the weather held constant over the hour:
//!
//! ```text
//! C dT/dt = UA (T_out - T) + Q_solar + Q_internal + Q_hvac
//! ```
//!
//! The equation is integrated *exactly* over each hour (exponential
//! solution), so the scheme is unconditionally stable even for light,
//! leaky buildings whose time constant `C / UA` is well below an hour. The
//! ideal HVAC first lets the zone float; if the end-of-hour temperature
//! would leave the `[heating, cooling]` setpoint band, it supplies the
//! constant power that lands the zone exactly on the violated setpoint.

use rand::{Rng, RngExt as _, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::weather::Weather;

/// Storey height of the box-shaped building, m.
pub const STOREY_HEIGHT_M: f64 = 3.0;
/// Solar heat gain coefficient of the glazing.
pub const WINDOW_SHGC: f64 = 0.5;
/// Mean ratio of irradiance on a vertical window to global horizontal
/// irradiance, averaged over the four orientations (a quarter of the window
/// area faces each way).
pub const VERTICAL_APERTURE_FACTOR: f64 = 0.4;
/// Volumetric heat capacity of air (ρ·c_p = 1.2 kg/m³ × 1005 J/kgK), J/m³K.
pub const AIR_HEAT_CAPACITY_J_M3K: f64 = 1206.0;
/// Length of the warm-up run before the simulated year, hours.
pub const WARM_UP_HOURS: usize = 7 * 24;
/// Simulation time step, s.
const STEP_S: f64 = 3600.0;
/// Cumulative day count at the start of each month (non-leap year).
const MONTH_START_DAY: [usize; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

/// Design parameters of the building, all of which may be swept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Building {
    /// Thermal resistance (R-value) of the opaque walls, m²K/W.
    #[schemars(range(min = 0.5, max = 10.0))]
    pub wall_r_value: f64,
    /// Window-to-wall area ratio, fraction of gross wall area (dimensionless).
    #[schemars(range(min = 0.05, max = 0.9))]
    pub window_ratio: f64,
    /// Window thermal transmittance (U-value), W/m²K.
    #[schemars(range(min = 0.8, max = 6.0))]
    pub window_u: f64,
    /// Heating setpoint: the zone is kept at or above this temperature, °C.
    #[schemars(range(min = 15.0, max = 23.0))]
    pub heating_setpoint_c: f64,
    /// Cooling setpoint: the zone is kept at or below this temperature, °C.
    #[schemars(range(min = 22.0, max = 30.0))]
    pub cooling_setpoint_c: f64,
    /// Infiltration rate, air changes per hour (1/h).
    #[schemars(range(min = 0.1, max = 2.0))]
    pub infiltration_ach: f64,
    /// Effective thermal mass per floor area, kJ/m²K.
    #[schemars(range(min = 20.0, max = 400.0))]
    pub thermal_mass_kj_m2k: f64,
    /// Conditioned floor area (square footprint, single storey), m².
    #[schemars(range(min = 50.0, max = 2000.0))]
    pub floor_area_m2: f64,
    /// Internal heat gains from people, lights and equipment, W/m² of floor.
    #[schemars(range(min = 0.0, max = 30.0))]
    pub internal_gains_w_m2: f64,
}

/// The sweepable range of one [`Building`] parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParameterRange {
    /// Field name in [`Building`].
    pub name: &'static str,
    /// Inclusive lower bound.
    pub min: f64,
    /// Inclusive upper bound.
    pub max: f64,
}

/// Ranges of the [`Building`] parameters, in field order (matches the
/// `#[schemars(range)]` attributes).
pub const PARAMETER_RANGES: [ParameterRange; 9] = [
    range("wall_r_value", 0.5, 10.0),
    range("window_ratio", 0.05, 0.9),
    range("window_u", 0.8, 6.0),
    range("heating_setpoint_c", 15.0, 23.0),
    range("cooling_setpoint_c", 22.0, 30.0),
    range("infiltration_ach", 0.1, 2.0),
    range("thermal_mass_kj_m2k", 20.0, 400.0),
    range("floor_area_m2", 50.0, 2000.0),
    range("internal_gains_w_m2", 0.0, 30.0),
];

/// Shorthand constructor for [`PARAMETER_RANGES`].
const fn range(name: &'static str, min: f64, max: f64) -> ParameterRange {
    ParameterRange { name, min, max }
}

/// Minimum gap between the heating and cooling setpoints enforced by
/// [`sample`] and [`Building::validate`], K.
pub const MIN_SETPOINT_GAP_K: f64 = 1.0;

impl Default for Building {
    /// A typical small, moderately insulated building.
    fn default() -> Self {
        Building {
            wall_r_value: 3.0,
            window_ratio: 0.3,
            window_u: 2.0,
            heating_setpoint_c: 20.0,
            cooling_setpoint_c: 25.0,
            infiltration_ach: 0.5,
            thermal_mass_kj_m2k: 150.0,
            floor_area_m2: 200.0,
            internal_gains_w_m2: 5.0,
        }
    }
}

impl Building {
    /// Parameter values in [`PARAMETER_RANGES`] order.
    pub fn to_array(&self) -> [f64; 9] {
        [
            self.wall_r_value,
            self.window_ratio,
            self.window_u,
            self.heating_setpoint_c,
            self.cooling_setpoint_c,
            self.infiltration_ach,
            self.thermal_mass_kj_m2k,
            self.floor_area_m2,
            self.internal_gains_w_m2,
        ]
    }

    /// Builds from parameter values in [`PARAMETER_RANGES`] order.
    pub fn from_array(v: [f64; 9]) -> Building {
        Building {
            wall_r_value: v[0],
            window_ratio: v[1],
            window_u: v[2],
            heating_setpoint_c: v[3],
            cooling_setpoint_c: v[4],
            infiltration_ach: v[5],
            thermal_mass_kj_m2k: v[6],
            floor_area_m2: v[7],
            internal_gains_w_m2: v[8],
        }
    }

    /// Checks every parameter is finite and in range, and that the heating
    /// setpoint is more than [`MIN_SETPOINT_GAP_K`] below the cooling one.
    pub fn validate(&self) -> Result<(), String> {
        for (value, r) in self.to_array().into_iter().zip(&PARAMETER_RANGES) {
            if !(r.min..=r.max).contains(&value) {
                return Err(format!("{} = {value} is outside [{}, {}]", r.name, r.min, r.max));
            }
        }
        if self.heating_setpoint_c >= self.cooling_setpoint_c - MIN_SETPOINT_GAP_K {
            return Err(format!(
                "heating setpoint {} must be more than {MIN_SETPOINT_GAP_K} K below cooling setpoint {}",
                self.heating_setpoint_c, self.cooling_setpoint_c
            ));
        }
        Ok(())
    }

    /// Gross wall area (four walls of a square footprint, one storey), m².
    pub fn gross_wall_area_m2(&self) -> f64 {
        4.0 * self.floor_area_m2.sqrt() * STOREY_HEIGHT_M
    }

    /// Window area, m².
    pub fn window_area_m2(&self) -> f64 {
        self.window_ratio * self.gross_wall_area_m2()
    }

    /// Opaque (non-window) wall area, m².
    pub fn opaque_wall_area_m2(&self) -> f64 {
        self.gross_wall_area_m2() - self.window_area_m2()
    }

    /// Air volume of the zone, m³.
    pub fn volume_m3(&self) -> f64 {
        self.floor_area_m2 * STOREY_HEIGHT_M
    }

    /// Overall heat-loss coefficient: walls + windows + infiltration, W/K.
    pub fn ua_w_k(&self) -> f64 {
        let walls = self.opaque_wall_area_m2() / self.wall_r_value;
        let windows = self.window_area_m2() * self.window_u;
        let infiltration = AIR_HEAT_CAPACITY_J_M3K * self.infiltration_ach * self.volume_m3() / 3600.0;
        walls + windows + infiltration
    }

    /// Lumped heat capacity of the zone, J/K.
    pub fn capacitance_j_k(&self) -> f64 {
        self.thermal_mass_kj_m2k * 1000.0 * self.floor_area_m2
    }

    /// Time constant `C / UA`, hours.
    pub fn time_constant_h(&self) -> f64 {
        self.capacitance_j_k() / self.ua_w_k() / 3600.0
    }

    /// Solar heat gain through the windows for a given GHI, W.
    pub fn solar_gain_w(&self, ghi_wm2: f64) -> f64 {
        WINDOW_SHGC * VERTICAL_APERTURE_FACTOR * self.window_area_m2() * ghi_wm2
    }

    /// Internal heat gain, W.
    pub fn internal_gain_w(&self) -> f64 {
        self.internal_gains_w_m2 * self.floor_area_m2
    }
}

/// One simulated hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HourlyRow {
    /// Hour of the year, 0-based.
    pub hour: u32,
    /// Zone air temperature averaged over the hour, °C.
    pub zone_temp_c: f64,
    /// Mean heating power over the hour (= kWh in the hour), kW.
    pub heating_kw: f64,
    /// Mean cooling power over the hour (= kWh in the hour), kW.
    pub cooling_kw: f64,
}

/// Result of simulating one building for one weather year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Simulation {
    /// Heating energy delivered over the year, kWh.
    pub annual_heating_kwh: f64,
    /// Cooling energy removed over the year, kWh.
    pub annual_cooling_kwh: f64,
    /// Largest hourly-mean heating power, kW.
    pub peak_heating_kw: f64,
    /// Largest hourly-mean cooling power, kW.
    pub peak_cooling_kw: f64,
    /// Number of hours with any heating.
    pub heating_hours: u32,
    /// Number of hours with any cooling.
    pub cooling_hours: u32,
    /// Hour-by-hour results (warm-up excluded).
    pub hourly: Vec<HourlyRow>,
}

/// Monthly aggregate of a [`Simulation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonthlyRow {
    /// Month, 1 (January) to 12 (December).
    pub month: u8,
    /// Heating energy in the month, kWh.
    pub heating_kwh: f64,
    /// Cooling energy in the month, kWh.
    pub cooling_kwh: f64,
    /// Mean zone temperature over the month, °C.
    pub mean_zone_temp_c: f64,
}

impl Simulation {
    /// Aggregates the hourly results by calendar month (non-leap year;
    /// hours past the end of December count towards December).
    pub fn monthly(&self) -> Vec<MonthlyRow> {
        let mut rows: Vec<MonthlyRow> = (1..=12)
            .map(|month| MonthlyRow { month, heating_kwh: 0.0, cooling_kwh: 0.0, mean_zone_temp_c: 0.0 })
            .collect();
        let mut hours = [0_u32; 12];
        for row in &self.hourly {
            let m = month_index(row.hour);
            rows[m].heating_kwh += row.heating_kw;
            rows[m].cooling_kwh += row.cooling_kw;
            rows[m].mean_zone_temp_c += row.zone_temp_c;
            hours[m] += 1;
        }
        for (row, n) in rows.iter_mut().zip(hours) {
            row.mean_zone_temp_c = if n == 0 { f64::NAN } else { row.mean_zone_temp_c / f64::from(n) };
        }
        rows
    }

    /// Hourly results as CSV with header `hour,zone_temp_c,heating_kw,cooling_kw`.
    pub fn hourly_csv(&self) -> String {
        let mut out = String::with_capacity(32 * (self.hourly.len() + 1));
        out.push_str("hour,zone_temp_c,heating_kw,cooling_kw\n");
        for r in &self.hourly {
            out.push_str(&format!("{},{:.3},{:.4},{:.4}\n", r.hour, r.zone_temp_c, r.heating_kw, r.cooling_kw));
        }
        out
    }
}

/// Zero-based month index (0..12) of a 0-based hour of the year.
fn month_index(hour: u32) -> usize {
    let day = hour as usize / 24;
    MONTH_START_DAY[1..].iter().position(|&end| day < end).unwrap_or(11)
}

/// Constants of the hourly update, derived once per building.
#[derive(Debug, Clone, Copy)]
struct Zone {
    /// Heat-loss coefficient, W/K.
    ua: f64,
    /// Internal gain, W.
    internal_w: f64,
    /// Solar gain per unit GHI, W per W/m².
    solar_w_per_ghi: f64,
    /// Decay factor of the temperature deviation over one step, `exp(-UA Δt / C)`.
    decay: f64,
    /// `1 - decay`, computed without cancellation.
    one_minus_decay: f64,
    /// Ratio of hour-mean deviation to initial deviation, `(1 - decay) / (UA Δt / C)`.
    mean_factor: f64,
    /// Heating setpoint, °C.
    heating_c: f64,
    /// Cooling setpoint, °C.
    cooling_c: f64,
}

impl Zone {
    /// Precomputes the update constants (guarding against degenerate inputs).
    fn new(b: &Building) -> Zone {
        let ua = b.ua_w_k().max(1e-6);
        let c = b.capacitance_j_k().max(1.0);
        let x = ua * STEP_S / c;
        let one_minus_decay = -(-x).exp_m1();
        Zone {
            ua,
            internal_w: b.internal_gain_w(),
            solar_w_per_ghi: b.solar_gain_w(1.0),
            decay: 1.0 - one_minus_decay,
            one_minus_decay,
            mean_factor: one_minus_decay / x,
            heating_c: b.heating_setpoint_c,
            cooling_c: b.cooling_setpoint_c,
        }
    }

    /// Advances one hour from end-of-previous-hour temperature `t0`.
    ///
    /// Returns `(t_end, t_mean, hvac_w)`, `hvac_w` positive for heating and
    /// negative for cooling.
    fn step(&self, t0: f64, outdoor_c: f64, ghi_wm2: f64) -> (f64, f64, f64) {
        let gains = self.internal_w + self.solar_w_per_ghi * ghi_wm2;
        let t_eq_free = outdoor_c + gains / self.ua;
        let t_free = t_eq_free + (t0 - t_eq_free) * self.decay;
        let (t_end, hvac_w) = if t_free < self.heating_c {
            (self.heating_c, self.power_to_reach(self.heating_c, t_free))
        } else if t_free > self.cooling_c {
            (self.cooling_c, self.power_to_reach(self.cooling_c, t_free))
        } else {
            (t_free, 0.0)
        };
        let t_eq = t_eq_free + hvac_w / self.ua;
        let t_mean = t_eq + (t0 - t_eq) * self.mean_factor;
        (t_end, t_mean, hvac_w)
    }

    /// Constant power over the hour that moves the end-of-hour temperature
    /// from `t_free` to `target`, W.
    fn power_to_reach(&self, target: f64, t_free: f64) -> f64 {
        self.ua * (target - t_free) / self.one_minus_decay
    }
}

/// Simulates `building` over `weather`, after a one-week warm-up on the
/// last week of the weather (i.e. the days preceding 1 January), starting
/// from the heating setpoint.
pub fn simulate(building: &Building, weather: &Weather) -> Simulation {
    let zone = Zone::new(building);
    let n = weather.len();
    let mut t = building.heating_setpoint_c;
    for k in 0..WARM_UP_HOURS.min(n) {
        let h = n - WARM_UP_HOURS.min(n) + k;
        t = zone.step(t, weather.dry_bulb_c[h], weather.ghi_wm2[h]).0;
    }
    let mut hourly = Vec::with_capacity(n);
    for (hour, (&outdoor, &ghi)) in weather.dry_bulb_c.iter().zip(&weather.ghi_wm2).enumerate() {
        let (t_end, t_mean, hvac_w) = zone.step(t, outdoor, ghi);
        t = t_end;
        hourly.push(HourlyRow {
            hour: u32::try_from(hour).unwrap_or(u32::MAX),
            zone_temp_c: t_mean,
            heating_kw: hvac_w.max(0.0) / 1000.0,
            cooling_kw: (-hvac_w).max(0.0) / 1000.0,
        });
    }
    summarise(hourly)
}

/// Computes the annual totals and peaks of hourly results.
fn summarise(hourly: Vec<HourlyRow>) -> Simulation {
    let mut s = Simulation {
        annual_heating_kwh: 0.0,
        annual_cooling_kwh: 0.0,
        peak_heating_kw: 0.0,
        peak_cooling_kw: 0.0,
        heating_hours: 0,
        cooling_hours: 0,
        hourly: Vec::new(),
    };
    for r in &hourly {
        s.annual_heating_kwh += r.heating_kw;
        s.annual_cooling_kwh += r.cooling_kw;
        s.peak_heating_kw = s.peak_heating_kw.max(r.heating_kw);
        s.peak_cooling_kw = s.peak_cooling_kw.max(r.cooling_kw);
        s.heating_hours += u32::from(r.heating_kw > 0.0);
        s.cooling_hours += u32::from(r.cooling_kw > 0.0);
    }
    s.hourly = hourly;
    s
}

/// Draws `n` buildings by Latin-hypercube sampling over [`PARAMETER_RANGES`]
/// (Scythe's built-in `lhs`, the design `--design lhs` draws).
///
/// Each parameter range is cut into `n` equal strata and every stratum is
/// used exactly once per parameter. Pairs that would violate
/// `heating_setpoint_c < cooling_setpoint_c - 1` are repaired by swapping
/// heating setpoints between samples, which keeps the stratification.
/// Deterministic for a given `(n, seed)`.
pub fn sample(n: usize, seed: u64) -> Vec<Building> {
    // Scythe's own Latin hypercube in the unit cube, each coordinate mapped onto its range.
    let unit = scythe::design::lhs(n, PARAMETER_RANGES.len(), seed, 1);
    let mut buildings: Vec<Building> = unit
        .iter()
        .map(|u| {
            Building::from_array(std::array::from_fn(|d| {
                let r = &PARAMETER_RANGES[d];
                (r.min + u[d] * (r.max - r.min)).min(r.max)
            }))
        })
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    repair_setpoints(&mut buildings, &mut rng);
    buildings
}

/// The point at relative position `u ∈ [0, 1)` within stratum `s` of `n`.
fn stratum_point(r: &ParameterRange, s: usize, n: usize, u: f64) -> f64 {
    let x = (s as f64 + u) / n as f64;
    (r.min + x * (r.max - r.min)).min(r.max)
}

/// True if the setpoints leave more than the minimum dead band.
fn setpoints_ok(heating_c: f64, cooling_c: f64) -> bool {
    heating_c < cooling_c - MIN_SETPOINT_GAP_K
}

/// Makes every sample satisfy [`setpoints_ok`], preferably by swapping
/// heating setpoints between samples (preserving the LHS strata).
fn repair_setpoints(buildings: &mut [Building], rng: &mut impl Rng) {
    let n = buildings.len();
    for i in 0..n {
        if setpoints_ok(buildings[i].heating_setpoint_c, buildings[i].cooling_setpoint_c) {
            continue;
        }
        if let Some(j) = swap_partner(buildings, i) {
            let h = buildings[i].heating_setpoint_c;
            buildings[i].heating_setpoint_c = buildings[j].heating_setpoint_c;
            buildings[j].heating_setpoint_c = h;
        } else {
            redraw_in_stratum(&mut buildings[i], n, rng);
        }
    }
}

/// A sample `j` such that exchanging heating setpoints with `i` leaves both
/// valid.
fn swap_partner(buildings: &[Building], i: usize) -> Option<usize> {
    let (hi, ci) = (buildings[i].heating_setpoint_c, buildings[i].cooling_setpoint_c);
    buildings.iter().position(|b| setpoints_ok(b.heating_setpoint_c, ci) && setpoints_ok(hi, b.cooling_setpoint_c))
}

/// Fallback when no swap exists (e.g. `n == 1`): redraws the heating
/// setpoint within its own stratum, then clamps as a last resort.
fn redraw_in_stratum(b: &mut Building, n: usize, rng: &mut impl Rng) {
    let r = &PARAMETER_RANGES[3];
    let width = (r.max - r.min) / n as f64;
    let stratum = (((b.heating_setpoint_c - r.min) / width) as usize).min(n - 1);
    for _ in 0..256 {
        let h = stratum_point(r, stratum, n, rng.random::<f64>());
        if setpoints_ok(h, b.cooling_setpoint_c) {
            b.heating_setpoint_c = h;
            return;
        }
    }
    let limit = b.cooling_setpoint_c - MIN_SETPOINT_GAP_K - 0.01;
    b.heating_setpoint_c = b.heating_setpoint_c.min(limit).max(r.min);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weather::{Climate, HOURS_PER_YEAR, synthetic};

    fn run(b: &Building, climate: Climate) -> Simulation {
        simulate(b, &synthetic(climate))
    }

    fn constant_weather(dry_bulb_c: f64, ghi_wm2: f64) -> Weather {
        Weather { dry_bulb_c: vec![dry_bulb_c; HOURS_PER_YEAR], ghi_wm2: vec![ghi_wm2; HOURS_PER_YEAR] }
    }

    #[test]
    fn energy_balance_closes_over_the_year() {
        let buildings = [
            Building::default(),
            Building { thermal_mass_kj_m2k: 400.0, floor_area_m2: 1500.0, window_ratio: 0.7, ..Building::default() },
            Building { thermal_mass_kj_m2k: 20.0, infiltration_ach: 2.0, wall_r_value: 0.5, ..Building::default() },
        ];
        for b in &buildings {
            for climate in Climate::ALL {
                let w = synthetic(climate);
                let s = simulate(b, &w);
                let ua = b.ua_w_k();
                // All in kWh over the year (1-hour steps: kW·h = kWh).
                let (mut gains, mut losses) = (0.0, 0.0);
                for (r, (t_out, ghi)) in s.hourly.iter().zip(w.dry_bulb_c.iter().zip(&w.ghi_wm2)) {
                    gains += (b.internal_gain_w() + b.solar_gain_w(*ghi)) / 1000.0;
                    losses += ua * (r.zone_temp_c - t_out) / 1000.0;
                }
                let net = gains + s.annual_heating_kwh - s.annual_cooling_kwh - losses;
                // Net inflow is the change in stored heat, C ΔT, which must be
                // small: the year starts and ends in similar conditions.
                let scale = gains + s.annual_heating_kwh + s.annual_cooling_kwh;
                assert!(net.abs() < 1e-3 * scale, "{climate} {b:?}: net {net} kWh of {scale} kWh");
                assert!(losses.is_finite());
            }
        }
    }

    #[test]
    fn steady_state_matches_ua() {
        let b = Building { internal_gains_w_m2: 0.0, ..Building::default() };
        let s = simulate(&b, &constant_weather(-5.0, 0.0));
        let expected_kw = b.ua_w_k() * (b.heating_setpoint_c + 5.0) / 1000.0;
        for r in &s.hourly {
            assert!((r.heating_kw - expected_kw).abs() < 1e-9 * expected_kw);
            assert!((r.zone_temp_c - b.heating_setpoint_c).abs() < 1e-9);
        }
        assert_eq!(s.heating_hours, 8760);
        assert_eq!(s.annual_cooling_kwh, 0.0);

        // Outdoors inside the dead band, no gains: no HVAC at all.
        let s = simulate(&b, &constant_weather(22.0, 0.0));
        assert_eq!(s.annual_heating_kwh + s.annual_cooling_kwh, 0.0);
        // And the zone relaxes towards 22 °C with the building time constant.
        let dev = |h: usize| 22.0 - s.hourly[h].zone_temp_c;
        assert!(dev(0) > 0.0 && dev(1) < dev(0) && dev(2) < dev(1));
    }

    #[test]
    fn free_float_relaxes_with_the_time_constant() {
        // Heating setpoint far below the weather, so the zone floats from the
        // setpoint towards outdoors as exp(-t/τ); warm-up is on constant
        // weather, so compare deviations hour to hour.
        let b = Building {
            heating_setpoint_c: -40.0,
            cooling_setpoint_c: 60.0,
            internal_gains_w_m2: 0.0,
            thermal_mass_kj_m2k: 400.0,
            ..Building::default()
        };
        let s = simulate(&b, &constant_weather(10.0, 0.0));
        let expected_ratio = (-1.0 / b.time_constant_h()).exp();
        let ratio = (10.0 - s.hourly[1].zone_temp_c) / (10.0 - s.hourly[0].zone_temp_c);
        assert!((ratio - expected_ratio).abs() < 1e-9, "{ratio} vs {expected_ratio}");
        // Absolute check of hour 0: the warm-up decays the initial 50 K
        // deviation for a week, and hour 0 reports the mean over the hour,
        // (1 - e^{-1/τ}) τ times the deviation at its start.
        let tau = b.time_constant_h();
        let start_dev = 50.0 * (-(WARM_UP_HOURS as f64) / tau).exp();
        let mean_dev = start_dev * (1.0 - expected_ratio) * tau;
        let got = 10.0 - s.hourly[0].zone_temp_c;
        assert!((got - mean_dev).abs() < 1e-9, "{got} vs {mean_dev}");
    }

    #[test]
    fn more_insulation_reduces_heating_in_cold_climates() {
        for climate in [Climate::Oslo, Climate::Boston] {
            let base = Building::default();
            let better = Building { wall_r_value: 2.0 * base.wall_r_value, ..base.clone() };
            let h0 = run(&base, climate).annual_heating_kwh;
            let h1 = run(&better, climate).annual_heating_kwh;
            assert!(h1 < 0.95 * h0, "{climate}: {h1} vs {h0}");
        }
    }

    #[test]
    fn hotter_climates_need_more_cooling_and_less_heating() {
        let b = Building::default();
        let [boston, phoenix, oslo] = Climate::ALL.map(|c| run(&b, c));
        assert!(phoenix.annual_cooling_kwh > 2.0 * boston.annual_cooling_kwh);
        assert!(boston.annual_cooling_kwh > oslo.annual_cooling_kwh);
        assert!(oslo.annual_heating_kwh > boston.annual_heating_kwh);
        assert!(boston.annual_heating_kwh > 2.0 * phoenix.annual_heating_kwh);
    }

    #[test]
    fn loads_are_non_negative_and_zone_stays_in_band() {
        for b in sample(20, 7) {
            for climate in Climate::ALL {
                let s = run(&b, climate);
                assert_eq!(s.hourly.len(), HOURS_PER_YEAR);
                for r in &s.hourly {
                    assert!(r.heating_kw >= 0.0 && r.cooling_kw >= 0.0, "{r:?}");
                    assert!(r.heating_kw == 0.0 || r.cooling_kw == 0.0, "{r:?}");
                    assert!(r.zone_temp_c >= b.heating_setpoint_c - 1e-9, "{r:?}");
                    assert!(r.zone_temp_c <= b.cooling_setpoint_c + 1e-9, "{r:?}");
                }
                assert!(s.annual_heating_kwh >= 0.0 && s.annual_cooling_kwh >= 0.0);
            }
        }
    }

    #[test]
    fn huge_internal_gains_in_a_warm_climate_need_no_heating() {
        let b = Building { internal_gains_w_m2: 30.0, ..Building::default() };
        let s = run(&b, Climate::Phoenix);
        assert!(s.annual_heating_kwh < 1.0, "{}", s.annual_heating_kwh);
        assert!(s.annual_cooling_kwh > 10_000.0, "{}", s.annual_cooling_kwh);
        // Whereas the default building in Phoenix does need some heating.
        assert!(run(&Building::default(), Climate::Phoenix).annual_heating_kwh > 1.0);
    }

    #[test]
    fn peaks_totals_and_hour_counts_are_consistent() {
        for climate in Climate::ALL {
            let s = run(&Building::default(), climate);
            let hours = s.hourly.len() as f64;
            assert!(s.peak_heating_kw >= s.annual_heating_kwh / hours);
            assert!(s.peak_cooling_kw >= s.annual_cooling_kwh / hours);
            let max_heat = s.hourly.iter().map(|r| r.heating_kw).fold(0.0, f64::max);
            assert_eq!(s.peak_heating_kw, max_heat);
            let heat_hours = s.hourly.iter().filter(|r| r.heating_kw > 0.0).count();
            assert_eq!(s.heating_hours as usize, heat_hours);
            let cool_hours = s.hourly.iter().filter(|r| r.cooling_kw > 0.0).count();
            assert_eq!(s.cooling_hours as usize, cool_hours);
            assert!(s.heating_hours + s.cooling_hours <= 8760);
        }
    }

    #[test]
    fn monthly_sums_to_annual() {
        let s = run(&Building::default(), Climate::Boston);
        let months = s.monthly();
        assert_eq!(months.len(), 12);
        assert_eq!(months.iter().map(|m| m.month).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
        let heating: f64 = months.iter().map(|m| m.heating_kwh).sum();
        let cooling: f64 = months.iter().map(|m| m.cooling_kwh).sum();
        assert!((heating - s.annual_heating_kwh).abs() < 1e-6 * s.annual_heating_kwh);
        assert!((cooling - s.annual_cooling_kwh).abs() < 1e-6 * s.annual_cooling_kwh);
        assert!(months[0].heating_kwh > months[6].heating_kwh);
        assert!(months[6].cooling_kwh > months[0].cooling_kwh);
        assert!(months[6].mean_zone_temp_c > months[0].mean_zone_temp_c);
        assert_eq!(month_index(0), 0);
        assert_eq!(month_index(31 * 24 - 1), 0);
        assert_eq!(month_index(31 * 24), 1);
        assert_eq!(month_index(8759), 11);
    }

    #[test]
    fn hourly_csv_has_header_and_one_line_per_hour() {
        let s = run(&Building::default(), Climate::Oslo);
        let csv = s.hourly_csv();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("hour,zone_temp_c,heating_kw,cooling_kw"));
        assert_eq!(lines.clone().count(), 8760);
        assert!(lines.next().is_some_and(|l| l.starts_with("0,") && l.split(',').count() == 4));
    }

    #[test]
    fn sample_respects_ranges_and_setpoint_gap() {
        for seed in 0..20 {
            for n in [1, 2, 3, 5, 17, 100] {
                let buildings = sample(n, seed);
                assert_eq!(buildings.len(), n);
                for b in &buildings {
                    assert_eq!(b.validate(), Ok(()), "{b:?}");
                }
            }
        }
    }

    #[test]
    fn sample_is_stratified_in_every_dimension() {
        for seed in 0..20 {
            for n in [1, 2, 3, 8, 50, 200] {
                let buildings = sample(n, seed);
                for (d, r) in PARAMETER_RANGES.iter().enumerate() {
                    let mut hits = vec![0_u32; n];
                    for b in &buildings {
                        let x = (b.to_array()[d] - r.min) / (r.max - r.min);
                        hits[((x * n as f64) as usize).min(n - 1)] += 1;
                    }
                    assert!(hits.iter().all(|&h| h == 1), "{} n={n} seed={seed}", r.name);
                }
            }
        }
    }

    #[test]
    fn sample_is_deterministic_per_seed() {
        assert_eq!(sample(64, 42), sample(64, 42));
        assert_ne!(sample(64, 42), sample(64, 43));
        assert!(sample(0, 1).is_empty());
        let a = simulate(&sample(1, 5)[0], &synthetic(Climate::Boston));
        let b = simulate(&sample(1, 5)[0], &synthetic(Climate::Boston));
        assert_eq!(a, b);
    }

    #[test]
    fn schema_ranges_match_parameter_table() {
        let schema = schemars::schema_for!(Building);
        let props = &schema.as_value()["properties"];
        for r in &PARAMETER_RANGES {
            let p = &props[r.name];
            assert_eq!(p["minimum"].as_f64(), Some(r.min), "{}", r.name);
            assert_eq!(p["maximum"].as_f64(), Some(r.max), "{}", r.name);
            assert!(p["description"].as_str().is_some(), "{}", r.name);
        }
        assert_eq!(props.as_object().map(|o| o.len()), Some(PARAMETER_RANGES.len()));
        let b = Building::default();
        assert_eq!(Building::from_array(b.to_array()), b);
        assert_eq!(b.validate(), Ok(()));
    }

    #[test]
    fn validate_rejects_bad_buildings() {
        let b = Building { window_ratio: 0.95, ..Building::default() };
        assert!(b.validate().is_err_and(|e| e.contains("window_ratio")));
        let b = Building { heating_setpoint_c: 22.5, cooling_setpoint_c: 23.0, ..Building::default() };
        assert!(b.validate().is_err_and(|e| e.contains("setpoint")));
        let b = Building { floor_area_m2: f64::NAN, ..Building::default() };
        assert!(b.validate().is_err());
    }

    #[test]
    fn short_or_empty_weather_does_not_panic() {
        let empty = Weather { dry_bulb_c: vec![], ghi_wm2: vec![] };
        let s = simulate(&Building::default(), &empty);
        assert!(s.hourly.is_empty() && s.annual_heating_kwh == 0.0);
        let short = Weather { dry_bulb_c: vec![0.0; 48], ghi_wm2: vec![0.0; 48] };
        assert_eq!(simulate(&Building::default(), &short).hourly.len(), 48);
    }
}
