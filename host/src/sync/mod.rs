//! The sync engine: scanning, watching, staging, applying, the ancestor
//! journal and the trash. It acts on decisions made by `sinc_sync_core`; it
//! never decides conflicts itself.

pub mod ancestor;
pub mod apply;
pub mod batch;
pub mod changelog;
pub mod client;
pub mod conflicts;
pub mod credentials;
pub mod delta;
pub mod endpoint;
pub mod ignore;
pub mod index;
pub mod scan;
pub mod serve;
pub mod syncer;
pub mod transfer;
pub mod trash;
pub mod watch;
pub mod wire;

#[cfg(test)]
mod pair_tests;
