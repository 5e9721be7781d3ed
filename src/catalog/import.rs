//! Reading a catalogue file (CSV or JSON), validating all of it, and reporting every problem
//! with its line and column (CSV) or JSON path, before anything is stored.

use super::csv::read_csv;
use super::model::CatalogFile;
use super::validate::{validate, Place, Policy, Problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// The format a file name says, if it says one.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

fn json_place(problem: &Problem) -> String {
    let place = match problem.place {
        Place::File => String::new(),
        Place::Provider(p) => format!("providers[{p}]."),
        Place::Location(p, l) => format!("providers[{p}].locations[{l}]."),
        Place::Item(p, i) => format!("providers[{p}].items[{i}]."),
        Place::VariantGroup(p, g) => format!("providers[{p}].variant_groups[{g}]."),
    };
    format!("{place}{}: {}", problem.field, problem.message)
}

/// Parses and validates a catalogue; on failure returns every problem, each naming its place.
pub fn read_catalog(
    bytes: &[u8],
    format: Format,
    policy: &Policy,
) -> Result<CatalogFile, Vec<String>> {
    match format {
        Format::Json => {
            let file: CatalogFile = serde_json::from_slice(bytes)
                .map_err(|e| vec![format!("line {}, column {}: {e}", e.line(), e.column())])?;
            let problems = validate(&file, policy);
            if problems.is_empty() {
                Ok(file)
            } else {
                Err(problems.iter().map(json_place).collect())
            }
        }
        Format::Csv => {
            let (file, origins, mut problems) = read_csv(bytes)?;
            problems.extend(validate(&file, policy).iter().map(|p| origins.describe(p)));
            if problems.is_empty() {
                Ok(file)
            } else {
                Err(problems)
            }
        }
    }
}

/// The demo catalogue that ships with Haat (real ODOP products; sample prices and contacts).
pub const DEMO: &str = include_str!("../../catalog/demo/odop-demo.json");
