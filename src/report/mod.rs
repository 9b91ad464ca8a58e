//! One report model, several pure renderers (one file per format).
//!
//! Renderers write to a `&mut dyn Write` handed to them and never print or decide exit codes;
//! the JSON wire types in [`json`] are separate structs carrying `schema_version`, so the model
//! can change without changing the documented schema.

pub mod json;
pub mod table;
