//! The ODOP catalogue: the model sellers write, its validation against ONDC's category rules,
//! CSV and JSON import/export, and the search intent.

pub mod csv;
pub mod import;
pub mod intent;
pub mod model;
pub mod rules;
pub mod validate;
