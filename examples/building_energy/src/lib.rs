//! Building energy: an hourly lumped RC thermal model of a building, run as a Scythe
//! experiment over a Latin-hypercube sample of designs and three climates.

pub mod experiment;
pub mod model;
pub mod weather;
