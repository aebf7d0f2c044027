//! Preparing the VPS: `sinc vps bootstrap` (packages, workspace, sinc
//! itself, the daemon's systemd unit, the agent). Facts are gathered by one
//! script ([`facts`]); the plan is pure ([`bootstrap`]).

pub mod bootstrap;
pub mod facts;
