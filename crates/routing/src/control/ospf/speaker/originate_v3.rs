//! This router's OSPFv3 LSAs (RFC 5340 §4.4.3): placeholder.
use std::collections::BTreeMap;

use super::Speaker;
use crate::control::ospf::wire::lsa::LsaKey;

impl Speaker {
    pub(super) fn wanted_v3(&self) -> BTreeMap<LsaKey, Vec<u8>> {
        BTreeMap::new()
    }
}
