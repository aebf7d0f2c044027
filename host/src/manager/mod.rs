//! `sinc sessions`: a full-screen manager over every agent session on the
//! configured VPSes. Each host is looked at once a second over its own SSH
//! connection (one round trip: the session list and each session's screen,
//! read with the same state detection plugins get); the list is redrawn in
//! place. The pure parts — rows, the model and its keys, state-change
//! hooks, drawing — are apart from the terminal and SSH.

pub mod app;
pub mod hook;
pub mod poll;
pub mod row;
pub mod view;
