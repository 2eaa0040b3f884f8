//! Link-state database files (the `[linkstate]` input, format in
//! `control::linkstate`) written from a few calls, so a test states its
//! topology instead of repeating TOML tables:
//!
//! ```
//! # use ferroute_testkit::lsdb::Lsdb;
//! let text = Lsdb::default()
//!     .router("192.0.2.1", 1)
//!     .first_hop("10.255.0.2", 10, &["203.0.113.2", "2001:db8:1::2"], "p1")
//!     .router("10.255.0.2", 1)
//!     .link("192.0.2.1", 10)
//!     .stub("198.18.0.0/24", 0)
//!     .toml();
//! assert!(text.contains("via = [\"203.0.113.2\", \"2001:db8:1::2\"]"));
//! assert!(text.contains("[[router.stub]]"));
//! ```

use std::fmt::Write as _;

/// The file's text, router by router; links and stubs belong to the last
/// router added.
#[derive(Debug, Clone, Default)]
pub struct Lsdb {
    text: String,
}

impl Lsdb {
    /// A router LSA.
    pub fn router(mut self, id: &str, sequence: u64) -> Self {
        let _ = write!(
            self.text,
            "[[router]]\nid = {id:?}\nsequence = {sequence}\n\n"
        );
        self
    }

    /// A link of the current router to `neighbor` (counted only if the
    /// neighbour lists it too).
    pub fn link(mut self, neighbor: &str, cost: u32) -> Self {
        let _ = write!(
            self.text,
            "[[router.link]]\nneighbor = {neighbor:?}\ncost = {cost}\n\n"
        );
        self
    }

    /// A link of the SPF root: the neighbour's addresses `via` (one per
    /// family) on `port` are the first hop.
    pub fn first_hop(mut self, neighbor: &str, cost: u32, via: &[&str], port: &str) -> Self {
        let _ = write!(
            self.text,
            "[[router.link]]\nneighbor = {neighbor:?}\ncost = {cost}\nvia = {via:?}\nport = {port:?}\n\n"
        );
        self
    }

    /// A prefix the current router reaches directly.
    pub fn stub(mut self, prefix: &str, cost: u32) -> Self {
        let _ = write!(
            self.text,
            "[[router.stub]]\nprefix = {prefix:?}\ncost = {cost}\n\n"
        );
        self
    }

    pub fn toml(&self) -> String {
        self.text.clone()
    }
}
