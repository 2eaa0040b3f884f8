//! How the forwarding pipeline hands over frames it creates (ICMP errors,
//! fragments): a backend lends a transmit buffer and the pipeline writes
//! into it. Defined here, below the pipeline, so that backends implement it
//! without depending on `forward/`.

use crate::fib::PortId;
use crate::wire::vlan::TAGGED_HEADER_LEN;

/// Where the pipeline sends frames it creates.
pub trait Emit {
    /// Obtains a transmit buffer for `port` and lets `build` write a frame into
    /// it; `build` returns the frame's length (0 means "nothing written").
    /// Returns false when no buffer was free or `build` wrote nothing. Buffers hold at least
    /// [`MIN_EMIT_BUFFER`] bytes and at least the port's MTU plus 18
    /// (an Ethernet header with an 802.1Q tag).
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;
}

/// The smallest buffer an [`Emit`] may hand out: an ICMPv6 error of 1280 bytes
/// plus its Ethernet header with a VLAN tag.
pub const MIN_EMIT_BUFFER: usize = 1280 + TAGGED_HEADER_LEN;
