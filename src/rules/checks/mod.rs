//! The rule functions, grouped by what they look at. Each function checks one rule of the
//! [catalogue](super::catalogue), which runs them in documentation order; each module keeps the
//! named test cases of its rules beside them.

pub mod annotation_keys;
pub mod annotation_values;
pub mod backends;
pub mod class;
pub mod direct_access;
pub mod listeners;
pub mod routes;
pub mod shared_lb;
pub mod skip;
pub mod tls;
pub mod update;
