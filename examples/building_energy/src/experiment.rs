//! The experiment: one building design in one climate → annual loads, monthly table, and an
//! optional hourly trace file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use schemars::JsonSchema;
use scythe::{FileRef, TaskContext, TaskError};
use serde::{Deserialize, Serialize};

use crate::model::{self, Building, MonthlyRow};
use crate::weather::{Climate, Weather, WeatherError};

/// One building design in one climate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildingInput {
    /// Thermal resistance of the opaque walls, m²K/W.
    #[schemars(range(min = 0.5, max = 10.0))]
    pub wall_r_value: f64,
    /// Window-to-wall area ratio.
    #[schemars(range(min = 0.05, max = 0.9))]
    pub window_ratio: f64,
    /// Window U-value, W/m²K.
    #[schemars(range(min = 0.8, max = 6.0))]
    pub window_u: f64,
    /// Heating setpoint, °C.
    #[schemars(range(min = 15.0, max = 23.0))]
    pub heating_setpoint_c: f64,
    /// Cooling setpoint, °C.
    #[schemars(range(min = 22.0, max = 30.0))]
    pub cooling_setpoint_c: f64,
    /// Infiltration, air changes per hour.
    #[schemars(range(min = 0.1, max = 2.0))]
    pub infiltration_ach: f64,
    /// Thermal mass per floor area, kJ/m²K.
    #[schemars(range(min = 20.0, max = 400.0))]
    pub thermal_mass_kj_m2k: f64,
    /// Floor area, m².
    #[schemars(range(min = 50.0, max = 2000.0))]
    pub floor_area_m2: f64,
    /// Internal gains (people, lights, plug loads), W/m².
    #[schemars(range(min = 0.0, max = 30.0))]
    pub internal_gains_w_m2: f64,
    /// Hourly weather file (CSV: hour, dry_bulb_c, global_horizontal_wm2).
    pub weather: FileRef,
    /// Also write the hourly trace of zone temperature and loads.
    pub hourly_trace: bool,
}

impl BuildingInput {
    /// The model's building parameters.
    pub fn building(&self) -> Building {
        Building::from_array([
            self.wall_r_value,
            self.window_ratio,
            self.window_u,
            self.heating_setpoint_c,
            self.cooling_setpoint_c,
            self.infiltration_ach,
            self.thermal_mass_kj_m2k,
            self.floor_area_m2,
            self.internal_gains_w_m2,
        ])
    }
}

/// Annual results of one building.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildingOutput {
    /// Annual heating energy, kWh.
    pub annual_heating_kwh: f64,
    /// Annual cooling energy, kWh.
    pub annual_cooling_kwh: f64,
    /// Heating energy intensity, kWh/m².
    pub heating_kwh_m2: f64,
    /// Cooling energy intensity, kWh/m².
    pub cooling_kwh_m2: f64,
    /// Peak heating load, kW.
    pub peak_heating_kw: f64,
    /// Peak cooling load, kW.
    pub peak_cooling_kw: f64,
    /// Hours with heating.
    pub heating_hours: u32,
    /// Hours with cooling.
    pub cooling_hours: u32,
    /// Monthly totals (a table of its own: `final/monthly.pq`).
    pub monthly: Vec<MonthlyRow>,
    /// Hourly trace CSV, when asked for (listed in `final/result_file_refs.pq`).
    pub hourly: Option<FileRef>,
}

/// Simulates one building-year with an hourly lumped RC model.
#[scythe::experiment(retries = 1, timeout = "2m")]
pub fn simulate(input: BuildingInput, ctx: &TaskContext) -> anyhow::Result<BuildingOutput> {
    let building = input.building();
    building.validate().map_err(TaskError::permanent)?;
    let path = input.weather.path().ok_or_else(|| anyhow::anyhow!("weather file `{}` is not local", input.weather))?;
    let weather = load_weather(path)?;
    let simulation = model::simulate(&building, &weather);
    let hourly = if input.hourly_trace {
        let file = ctx.scratch_dir()?.join("hourly.csv");
        std::fs::write(&file, simulation.hourly_csv())?;
        Some(FileRef::from(file))
    } else {
        None
    };
    Ok(BuildingOutput {
        annual_heating_kwh: simulation.annual_heating_kwh,
        annual_cooling_kwh: simulation.annual_cooling_kwh,
        heating_kwh_m2: simulation.annual_heating_kwh / building.floor_area_m2,
        cooling_kwh_m2: simulation.annual_cooling_kwh / building.floor_area_m2,
        peak_heating_kw: simulation.peak_heating_kw,
        peak_cooling_kw: simulation.peak_cooling_kw,
        heating_hours: simulation.heating_hours,
        cooling_hours: simulation.cooling_hours,
        monthly: simulation.monthly(),
        hourly,
    })
}

/// Parses each weather file once per process: thousands of specs share a few files.
fn load_weather(path: &Path) -> Result<Arc<Weather>, WeatherError> {
    static PARSED: Mutex<BTreeMap<PathBuf, Arc<Weather>>> = Mutex::new(BTreeMap::new());
    if let Some(weather) = PARSED.lock().unwrap_or_else(|p| p.into_inner()).get(path) {
        return Ok(Arc::clone(weather));
    }
    let weather = Arc::new(Weather::from_csv_path(path)?);
    PARSED.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_path_buf(), Arc::clone(&weather));
    Ok(weather)
}

/// The bundled weather file of a climate.
pub fn weather_file(climate: Climate) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("weather").join(format!("{}.csv", climate.name()))
}

/// A Latin-hypercube sample of `n` designs, spread over the bundled climates; every tenth
/// spec also keeps its hourly trace.
///
/// A custom design (`App::sampler`, `scatter simulate --sample N`): it starts from Scythe's
/// built-in Latin hypercube, then does what a design from the schema cannot: repairs
/// setpoints that leave no dead band, cycles the bundled weather files, and asks for a trace
/// on one spec in ten. Built-in designs work too, given the fields the schema cannot draw:
/// `scatter simulate --design sobol -n 1024 --set hourly_trace=false --levels
/// weather=a.csv,b.csv` (specs whose setpoints overlap then fail).
pub fn sample(n: usize, seed: u64) -> Vec<BuildingInput> {
    model::sample(n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, building)| {
            let [
                wall_r_value,
                window_ratio,
                window_u,
                heating_setpoint_c,
                cooling_setpoint_c,
                infiltration_ach,
                thermal_mass_kj_m2k,
                floor_area_m2,
                internal_gains_w_m2,
            ] = building.to_array();
            BuildingInput {
                wall_r_value,
                window_ratio,
                window_u,
                heating_setpoint_c,
                cooling_setpoint_c,
                infiltration_ach,
                thermal_mass_kj_m2k,
                floor_area_m2,
                internal_gains_w_m2,
                weather: FileRef::from(weather_file(Climate::ALL[i % Climate::ALL.len()])),
                hourly_trace: i % 10 == 0,
            }
        })
        .collect()
}
