//! Hourly weather: a small CSV file format, its parser, and a deterministic
//! synthetic-year generator for a few named climates.
//!
//! The format is a header line `hour,dry_bulb_c,global_horizontal_wm2`
//! followed by exactly [`HOURS_PER_YEAR`] rows, one per hour of a non-leap
//! year, with `hour` running from 0 to 8759 in order:
//!
//! ```text
//! hour,dry_bulb_c,global_horizontal_wm2
//! 0,-2.3,0.0
//! 1,-2.6,0.0
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Number of hourly rows in a weather year (non-leap year).
pub const HOURS_PER_YEAR: usize = 8760;

/// The exact header line of a weather CSV file.
pub const CSV_HEADER: &str = "hour,dry_bulb_c,global_horizontal_wm2";

/// Lowest dry-bulb temperature accepted by the parser, in °C.
const MIN_DRY_BULB_C: f64 = -90.0;
/// Highest dry-bulb temperature accepted by the parser, in °C.
const MAX_DRY_BULB_C: f64 = 70.0;
/// Highest global horizontal irradiance accepted by the parser, in W/m².
const MAX_GHI_WM2: f64 = 1500.0;
/// Name used in error messages when parsing from an in-memory string.
const STRING_SOURCE: &str = "<string>";

/// One year of hourly weather, index `h` being hour `h` of the year.
#[derive(Debug, Clone, PartialEq)]
pub struct Weather {
    /// Outdoor dry-bulb air temperature per hour, °C.
    pub dry_bulb_c: Vec<f64>,
    /// Global horizontal irradiance per hour (mean over the hour), W/m².
    pub ghi_wm2: Vec<f64>,
}

/// Why a weather file could not be loaded.
#[derive(Debug)]
pub enum WeatherError {
    /// The file could not be read.
    Io {
        /// Path of the file.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The first line is not the expected header.
    Header {
        /// File name (or `<string>`) for messages.
        file: String,
        /// The line that was found instead (empty if the input was empty).
        found: String,
    },
    /// A data row is malformed or out of range.
    Row {
        /// File name (or `<string>`) for messages.
        file: String,
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// The file does not have exactly [`HOURS_PER_YEAR`] data rows.
    RowCount {
        /// File name (or `<string>`) for messages.
        file: String,
        /// Number of data rows found.
        found: usize,
    },
}

impl fmt::Display for WeatherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => {
                write!(f, "cannot read weather file {}: {source}", path.display())
            }
            Self::Header { file, found } if found.is_empty() => {
                write!(f, "{file}:1: expected header `{CSV_HEADER}`, found empty input")
            }
            Self::Header { file, found } => {
                write!(f, "{file}:1: expected header `{CSV_HEADER}`, found `{found}`")
            }
            Self::Row { file, line, message } => write!(f, "{file}:{line}: {message}"),
            Self::RowCount { file, found } => write!(f, "{file}: expected {HOURS_PER_YEAR} hourly rows, found {found}"),
        }
    }
}

impl std::error::Error for WeatherError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Weather {
    /// Reads and parses a weather CSV file.
    pub fn from_csv_path(path: &Path) -> Result<Weather, WeatherError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| WeatherError::Io { path: path.to_path_buf(), source })?;
        parse_csv(&text, &path.display().to_string())
    }

    /// Parses weather CSV text; errors name the source as `<string>`.
    pub fn from_csv_str(text: &str) -> Result<Weather, WeatherError> {
        parse_csv(text, STRING_SOURCE)
    }

    /// Serialises the weather in the CSV format, values to one decimal.
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(20 * (self.dry_bulb_c.len() + 1));
        out.push_str(CSV_HEADER);
        out.push('\n');
        for (hour, (t, g)) in self.dry_bulb_c.iter().zip(&self.ghi_wm2).enumerate() {
            out.push_str(&format!("{hour},{t:.1},{g:.1}\n"));
        }
        out
    }

    /// Number of hours covered (the shorter of the two series).
    pub fn len(&self) -> usize {
        self.dry_bulb_c.len().min(self.ghi_wm2.len())
    }

    /// True if the weather covers no hours.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses CSV text, using `file` to name the source in error messages.
fn parse_csv(text: &str, file: &str) -> Result<Weather, WeatherError> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map_or("", |(_, line)| line.trim());
    if header != CSV_HEADER {
        return Err(WeatherError::Header { file: file.to_owned(), found: header.to_owned() });
    }
    let mut weather =
        Weather { dry_bulb_c: Vec::with_capacity(HOURS_PER_YEAR), ghi_wm2: Vec::with_capacity(HOURS_PER_YEAR) };
    for (index, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (t, g) = parse_row(line, weather.dry_bulb_c.len()).map_err(|message| WeatherError::Row {
            file: file.to_owned(),
            line: index + 1,
            message,
        })?;
        weather.dry_bulb_c.push(t);
        weather.ghi_wm2.push(g);
    }
    if weather.dry_bulb_c.len() != HOURS_PER_YEAR {
        return Err(WeatherError::RowCount { file: file.to_owned(), found: weather.dry_bulb_c.len() });
    }
    Ok(weather)
}

/// Parses one data row that must carry hour `expected_hour`.
fn parse_row(line: &str, expected_hour: usize) -> Result<(f64, f64), String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [hour, dry_bulb, ghi] = fields.as_slice() else {
        return Err(format!("expected 3 comma-separated fields, found {}", fields.len()));
    };
    let hour: usize = hour.parse().map_err(|_| format!("hour `{hour}` is not a non-negative integer"))?;
    if hour != expected_hour {
        return Err(format!("expected hour {expected_hour}, found {hour}"));
    }
    let dry_bulb = parse_value(dry_bulb, "dry_bulb_c", MIN_DRY_BULB_C, MAX_DRY_BULB_C)?;
    let ghi = parse_value(ghi, "global_horizontal_wm2", 0.0, MAX_GHI_WM2)?;
    Ok((dry_bulb, ghi))
}

/// Parses a finite number and checks it lies in `[min, max]`.
fn parse_value(text: &str, column: &str, min: f64, max: f64) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{column} `{text}` is not a number"))?;
    if !value.is_finite() {
        return Err(format!("{column} `{text}` is not a finite number"));
    }
    if !(min..=max).contains(&value) {
        return Err(format!("{column} {value} is outside [{min}, {max}]"));
    }
    Ok(value)
}

/// A named climate for which [`synthetic`] can generate a weather year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Climate {
    /// Boston, USA (42.4° N): cold winters, warm humid summers.
    Boston,
    /// Phoenix, USA (33.4° N): mild winters, very hot sunny summers.
    Phoenix,
    /// Oslo, Norway (59.9° N): long cold winters, short cool summers.
    Oslo,
}

impl Climate {
    /// All climates, in a fixed order.
    pub const ALL: [Climate; 3] = [Climate::Boston, Climate::Phoenix, Climate::Oslo];

    /// Lower-case name, also the stem of the bundled CSV file (`boston.csv`).
    pub fn name(self) -> &'static str {
        match self {
            Climate::Boston => "boston",
            Climate::Phoenix => "phoenix",
            Climate::Oslo => "oslo",
        }
    }

    /// The parameters of the synthetic weather generator for this climate.
    fn params(self) -> ClimateParams {
        match self {
            Climate::Boston => ClimateParams {
                latitude_deg: 42.36,
                mean_c: 10.9,
                annual_amplitude_c: 12.3,
                daily_amplitude_c: 4.3,
                mean_clearness: 0.72,
                clearness_spread: 0.25,
                anomaly_amplitude_c: 4.5,
                seed: 0xB057_0001,
            },
            Climate::Phoenix => ClimateParams {
                latitude_deg: 33.45,
                mean_c: 24.3,
                annual_amplitude_c: 10.8,
                daily_amplitude_c: 7.0,
                mean_clearness: 0.90,
                clearness_spread: 0.12,
                anomaly_amplitude_c: 2.5,
                seed: 0xF0E1_0002,
            },
            Climate::Oslo => ClimateParams {
                latitude_deg: 59.91,
                mean_c: 6.3,
                annual_amplitude_c: 10.5,
                daily_amplitude_c: 3.5,
                mean_clearness: 0.62,
                clearness_spread: 0.28,
                anomaly_amplitude_c: 4.0,
                seed: 0x0510_0003,
            },
        }
    }
}

impl fmt::Display for Climate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Climate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Climate::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown climate `{s}` (expected boston, phoenix or oslo)"))
    }
}

/// Parameters of the synthetic weather generator.
struct ClimateParams {
    /// Site latitude, degrees north.
    latitude_deg: f64,
    /// Annual mean dry-bulb temperature, °C.
    mean_c: f64,
    /// Half the difference between the warmest and coldest monthly means, K.
    annual_amplitude_c: f64,
    /// Half the typical daily temperature range on an average day, K.
    daily_amplitude_c: f64,
    /// Mean daily clearness (fraction of clear-sky irradiance reaching ground).
    mean_clearness: f64,
    /// Half-width of the uniform day-to-day clearness variation.
    clearness_spread: f64,
    /// Half-width of the multi-day (synoptic) temperature anomaly, K.
    anomaly_amplitude_c: f64,
    /// Seed of the deterministic hash.
    seed: u64,
}

/// Day of year (0-based) of the coldest point of the annual temperature cycle.
const COLDEST_DAY: f64 = 20.0;
/// Hour of day of the daily temperature maximum.
const WARMEST_HOUR: f64 = 15.0;
/// Spacing of the synoptic temperature-anomaly nodes, hours (divides 8760).
const ANOMALY_NODE_HOURS: usize = 73;
/// Hash stream for daily clearness.
const STREAM_CLEARNESS: u64 = 1;
/// Hash stream for hourly cloud flicker.
const STREAM_FLICKER: u64 = 2;
/// Hash stream for the synoptic temperature anomaly.
const STREAM_ANOMALY: u64 = 3;

/// Generates a deterministic, plausible hourly year for `climate`.
///
/// Temperature is an annual sinusoid (coldest around 21 January) plus a daily
/// sinusoid (warmest at 15:00) whose amplitude grows on clear days, plus a
/// smooth multi-day anomaly. Irradiance is the Haurwitz clear-sky model for
/// the site latitude (solar time = clock time, zero at night) times a daily
/// clearness factor with a little hourly flicker. Values are rounded to one
/// decimal so that `to_csv` → `from_csv_str` round-trips exactly.
pub fn synthetic(climate: Climate) -> Weather {
    let p = climate.params();
    let (dry_bulb_c, ghi_wm2) = (0..HOURS_PER_YEAR)
        .map(|hour| {
            let clearness = daily_clearness(&p, hour / 24);
            let t = dry_bulb_at(&p, hour, clearness);
            let flicker = 0.9 + 0.1 * unit_hash(p.seed, STREAM_FLICKER, hour as u64);
            let g = clear_sky_ghi(p.latitude_deg, hour) * (clearness * flicker).min(1.0);
            (round1(t), round1(g))
        })
        .unzip();
    Weather { dry_bulb_c, ghi_wm2 }
}

/// Clearness factor in `[0.15, 1]` for day `day` (0-based).
fn daily_clearness(p: &ClimateParams, day: usize) -> f64 {
    let u = unit_hash(p.seed, STREAM_CLEARNESS, day as u64);
    (p.mean_clearness + p.clearness_spread * (2.0 * u - 1.0)).clamp(0.15, 1.0)
}

/// Dry-bulb temperature at hour-of-year `hour` on a day of given clearness.
fn dry_bulb_at(p: &ClimateParams, hour: usize, clearness: f64) -> f64 {
    let day = hour as f64 / 24.0;
    let hour_of_day = (hour % 24) as f64;
    let annual = -p.annual_amplitude_c * (TAU * (day - COLDEST_DAY) / 365.0).cos();
    let daily_amplitude = p.daily_amplitude_c * clearness / p.mean_clearness;
    let daily = daily_amplitude * (TAU * (hour_of_day - WARMEST_HOUR) / 24.0).cos();
    p.mean_c + annual + daily + anomaly_at(p, hour)
}

/// Smooth synoptic temperature anomaly (value noise, cyclic over the year).
fn anomaly_at(p: &ClimateParams, hour: usize) -> f64 {
    let nodes = HOURS_PER_YEAR / ANOMALY_NODE_HOURS;
    let k = hour / ANOMALY_NODE_HOURS;
    let x = (hour % ANOMALY_NODE_HOURS) as f64 / ANOMALY_NODE_HOURS as f64;
    let node = |i: usize| {
        let u = unit_hash(p.seed, STREAM_ANOMALY, (i % nodes) as u64);
        p.anomaly_amplitude_c * (2.0 * u - 1.0)
    };
    let s = x * x * (3.0 - 2.0 * x);
    node(k) * (1.0 - s) + node(k + 1) * s
}

/// Haurwitz clear-sky global horizontal irradiance at mid-hour, W/m².
fn clear_sky_ghi(latitude_deg: f64, hour: usize) -> f64 {
    let cos_zenith = cos_solar_zenith(latitude_deg, hour);
    if cos_zenith <= 0.0 {
        return 0.0;
    }
    1098.0 * cos_zenith * (-0.057 / cos_zenith).exp()
}

/// Cosine of the solar zenith angle at the middle of hour-of-year `hour`.
fn cos_solar_zenith(latitude_deg: f64, hour: usize) -> f64 {
    let day_number = (hour / 24 + 1) as f64;
    let declination = 23.44_f64.to_radians() * (TAU * (284.0 + day_number) / 365.0).sin();
    let solar_time = (hour % 24) as f64 + 0.5;
    let hour_angle = (15.0 * (solar_time - 12.0)).to_radians();
    let latitude = latitude_deg.to_radians();
    latitude.sin() * declination.sin() + latitude.cos() * declination.cos() * hour_angle.cos()
}

/// Deterministic hash of `(seed, stream, index)` to a float in `[0, 1)`.
fn unit_hash(seed: u64, stream: u64, index: u64) -> f64 {
    let mixed = splitmix64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ splitmix64(index));
    (mixed >> 11) as f64 / (1_u64 << 53) as f64
}

/// The SplitMix64 finaliser: a tiny, well-mixing 64-bit hash.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Rounds to one decimal place, normalising `-0.0` to `0.0`.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0 + 0.0
}

/// A full turn in radians.
const TAU: f64 = std::f64::consts::TAU;

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean of `values[range]`.
    fn mean(values: &[f64]) -> f64 {
        values.iter().sum::<f64>() / values.len() as f64
    }

    /// Hours of January and July (non-leap year).
    const JANUARY: std::ops::Range<usize> = 0..31 * 24;
    const JULY: std::ops::Range<usize> = 181 * 24..212 * 24;

    #[test]
    fn synthetic_has_a_full_year_and_is_deterministic() {
        for climate in Climate::ALL {
            let w = synthetic(climate);
            assert_eq!(w.dry_bulb_c.len(), HOURS_PER_YEAR);
            assert_eq!(w.ghi_wm2.len(), HOURS_PER_YEAR);
            assert_eq!(w, synthetic(climate));
        }
        assert_ne!(synthetic(Climate::Boston), synthetic(Climate::Oslo));
    }

    #[test]
    fn synthetic_temperatures_are_plausible() {
        let boston = synthetic(Climate::Boston);
        let phoenix = synthetic(Climate::Phoenix);
        let oslo = synthetic(Climate::Oslo);
        let jan = |w: &Weather| mean(&w.dry_bulb_c[JANUARY]);
        let jul = |w: &Weather| mean(&w.dry_bulb_c[JULY]);
        assert!((-6.0..3.0).contains(&jan(&boston)), "{}", jan(&boston));
        assert!((19.0..28.0).contains(&jul(&boston)), "{}", jul(&boston));
        assert!((9.0..17.0).contains(&jan(&phoenix)), "{}", jan(&phoenix));
        assert!((30.0..38.0).contains(&jul(&phoenix)), "{}", jul(&phoenix));
        assert!((-9.0..0.0).contains(&jan(&oslo)), "{}", jan(&oslo));
        assert!((13.0..21.0).contains(&jul(&oslo)), "{}", jul(&oslo));
        for w in [&boston, &phoenix, &oslo] {
            let annual = mean(&w.dry_bulb_c);
            assert!(w.dry_bulb_c.iter().all(|t| (t - annual).abs() < 35.0));
        }
    }

    #[test]
    fn synthetic_solar_is_zero_at_night_and_plausible_in_total() {
        // Annual global horizontal irradiation, kWh/m² (measured: Phoenix ~2100,
        // Boston ~1400, Oslo ~900).
        let expected =
            [(Climate::Boston, 1150.0..1650.0), (Climate::Phoenix, 1900.0..2400.0), (Climate::Oslo, 700.0..1100.0)];
        for (climate, range) in expected {
            let w = synthetic(climate);
            let annual_kwh = w.ghi_wm2.iter().sum::<f64>() / 1000.0;
            assert!(range.contains(&annual_kwh), "{climate}: {annual_kwh}");
            for day in 0..365 {
                assert_eq!(w.ghi_wm2[day * 24], 0.0, "{climate} midnight day {day}");
            }
            assert!(w.ghi_wm2.iter().all(|g| (0.0..=1100.0).contains(g)));
            // Mid-July noon is sunny everywhere; summer beats winter.
            assert!(w.ghi_wm2[195 * 24 + 12] > 150.0);
            assert!(mean(&w.ghi_wm2[JULY]) > 2.0 * mean(&w.ghi_wm2[JANUARY]));
        }
        // Oslo has (almost) no sun at 07:00 in late December.
        assert_eq!(synthetic(Climate::Oslo).ghi_wm2[355 * 24 + 7], 0.0);
    }

    #[test]
    fn csv_round_trips_exactly() {
        for climate in Climate::ALL {
            let w = synthetic(climate);
            let parsed = Weather::from_csv_str(&w.to_csv());
            assert_eq!(parsed.ok().as_ref(), Some(&w));
        }
    }

    #[test]
    fn bundled_files_match_the_generator() {
        let files = [
            (Climate::Boston, include_str!("../weather/boston.csv")),
            (Climate::Phoenix, include_str!("../weather/phoenix.csv")),
            (Climate::Oslo, include_str!("../weather/oslo.csv")),
        ];
        for (climate, text) in files {
            assert_eq!(text, synthetic(climate).to_csv(), "{climate}");
        }
    }

    /// A valid CSV text with line `line_number` (1-based) replaced.
    fn csv_with_line(line_number: usize, replacement: &str) -> String {
        let csv = synthetic(Climate::Boston).to_csv();
        let mut lines: Vec<&str> = csv.lines().collect();
        lines[line_number - 1] = replacement;
        lines.join("\n")
    }

    fn error_message(text: &str) -> String {
        match Weather::from_csv_str(text) {
            Ok(_) => panic!("expected a parse error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_rows_are_reported_with_file_and_line() {
        let msg = error_message(&csv_with_line(6, "4,abc,0.0"));
        assert!(msg.starts_with("<string>:6:"), "{msg}");
        assert!(msg.contains("dry_bulb_c"), "{msg}");

        let msg = error_message(&csv_with_line(100, "98,5.0"));
        assert!(msg.starts_with("<string>:100:"), "{msg}");
        assert!(msg.contains("3 comma-separated fields"), "{msg}");

        let msg = error_message(&csv_with_line(11, "12,5.0,0.0"));
        assert!(msg.contains("expected hour 9, found 12"), "{msg}");

        let msg = error_message(&csv_with_line(20, "18,5.0,-3.0"));
        assert!(msg.contains("global_horizontal_wm2"), "{msg}");

        let msg = error_message(&csv_with_line(20, "18,NaN,3.0"));
        assert!(msg.contains("not a finite number"), "{msg}");
    }

    #[test]
    fn wrong_row_counts_and_headers_are_rejected() {
        let csv = synthetic(Climate::Phoenix).to_csv();
        let short: String = csv.lines().take(8000).collect::<Vec<_>>().join("\n");
        let msg = error_message(&short);
        assert!(msg.contains("expected 8760 hourly rows, found 7999"), "{msg}");

        let long = format!("{csv}8760,1.0,0.0\n");
        assert!(error_message(&long).contains("found 8761"));

        let msg = error_message(&csv.replacen("dry_bulb_c", "temp", 1));
        assert!(msg.starts_with("<string>:1: expected header"), "{msg}");
        assert!(error_message("").contains("empty input"));

        // Blank lines and CRLF endings are tolerated.
        let crlf = csv.replace('\n', "\r\n") + "\r\n\r\n";
        assert!(Weather::from_csv_str(&crlf).is_ok());
    }

    #[test]
    fn missing_file_error_names_the_path() {
        let path = Path::new("/nonexistent/dir/weather.csv");
        let err = Weather::from_csv_path(path).err();
        let msg = err.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(msg.contains("/nonexistent/dir/weather.csv"), "{msg}");
        assert!(err.as_ref().and_then(std::error::Error::source).is_some());
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("bem-weather-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("bad.csv");
        std::fs::write(&path, csv_with_line(42, "40,1.0,oops")).expect("write");
        let msg = Weather::from_csv_path(&path).err().map(|e| e.to_string()).unwrap_or_default();
        std::fs::remove_dir_all(&dir).ok();
        assert!(msg.contains("bad.csv:42:"), "{msg}");
    }

    #[test]
    fn climate_names_parse_back() {
        for climate in Climate::ALL {
            assert_eq!(climate.name().parse::<Climate>(), Ok(climate));
            assert_eq!(climate.to_string(), climate.name());
        }
        assert_eq!("PHOENIX".parse::<Climate>(), Ok(Climate::Phoenix));
        assert!("atlantis".parse::<Climate>().is_err());
    }
}
