//! Tencent Cloud as the rules need it: read-only look-ups of SSL certificates and CLB instances
//! (issue 26), opt-in and off by default.
//!
//! - [`sign`]: TC3-HMAC-SHA256 request signatures.
//!
//! Never called with the feature off: nothing here runs unless a front end was given credentials.

pub mod sign;

pub mod client;

pub use client::{Action, CloudClient, CloudConfig, CloudStats, Outcome};
