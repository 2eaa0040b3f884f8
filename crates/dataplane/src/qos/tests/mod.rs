//! Simulations of the queues on a virtual clock, and property tests.

mod aqm;
mod express;
pub mod frames;
mod props;
pub mod sim;
