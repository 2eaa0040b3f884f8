//! Scaffolding shared by every kind of test and by the benches: where the
//! real data is ([`data`]), one seeded pseudo-random sequence ([`rng`]), one
//! frame builder ([`frames`]), network namespaces with raw packet sockets ([`netns`]) and
//! real routing daemons as peers ([`daemons`]).
//!
//! It lives in the library (hidden from the docs, not part of the API)
//! rather than in `tests/` or `benches/common/` because unit tests beside
//! the code, integration tests, benches, examples and fuzz targets all need
//! parts of it, and the library is the one crate all of them can reach
//! without `#[path]` tricks or copies. It pulls in no dependency the library
//! does not already have; the binary links none of it.

mod cpu;
pub mod daemons;
pub mod data;
pub mod frames;
pub mod lsdb;
pub mod mrt;
pub mod netns;
pub mod rng;

use ferroute_wire as wire;

pub use cpu::thread_cpu_time;
pub use data::{data_dir, data_file, pcaps_dir, repo_path, shared_path};
pub use rng::Rng;
