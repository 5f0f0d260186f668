//! Where inputs are read from and outputs written to: the local file system, or an
//! S3-compatible object store ([`remote`]).
//!
//! Takes paths; gives a log's bytes with their identity ([`SourceFile`]), an
//! output directory that appears whole or not at all ([`Staging`]), and the
//! dataset that publishes a harvest's runs once the catalog has it ([`Dataset`]). Nothing above
//! this layer touches files of the input or the outputs directly, so another backend
//! (an object store) can be added here without new imports from the stages.

mod dataset;
pub mod remote;
mod source;
mod staging;

pub use dataset::Dataset;
pub use source::{absolute, is_broken_link, is_name_too_long, path_key, FileIdentity, SourceFile};
pub use staging::Staging;
