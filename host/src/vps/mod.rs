//! Preparing the VPS: `sinc vps bootstrap` (packages, workspace, sinc
//! itself, the daemon's systemd unit, the agent) and `sinc vps harden`
//! (sshd, firewall, fail2ban, upgrades). Facts are gathered by one script
//! ([`facts`]); the plans are pure ([`bootstrap`], [`harden`]).

pub mod bootstrap;
pub mod facts;
pub mod harden;
