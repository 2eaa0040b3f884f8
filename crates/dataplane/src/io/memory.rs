//! An in-memory transmit side: every frame the pipeline emits is kept, in
//! order, with its port. Used by tests and by `ferroute replay`.

use super::emit::{Emit, MIN_EMIT_BUFFER};
use crate::fib::PortId;
use crate::wire::vlan::TAGGED_HEADER_LEN;

/// One frame handed to [`Emit::emit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmittedFrame {
    pub port: PortId,
    pub data: Vec<u8>,
}

/// Collects emitted frames. Hands out buffers of `buffer_len` bytes, and,
/// when a limit is set, refuses buffers once that many frames were taken
/// (to exercise the pipeline's out-of-buffers paths).
#[derive(Debug, Clone)]
pub struct MemoryTx {
    buffer_len: usize,
    remaining: Option<usize>,
    pub frames: Vec<EmittedFrame>,
}

impl MemoryTx {
    /// A collector whose buffers fit any frame for ports of at most
    /// `max_mtu` (IP MTU) and never less than [`MIN_EMIT_BUFFER`].
    pub fn new(max_mtu: u16) -> Self {
        MemoryTx {
            buffer_len: (max_mtu as usize + TAGGED_HEADER_LEN).max(MIN_EMIT_BUFFER),
            remaining: None,
            frames: Vec::new(),
        }
    }

    /// Like [`MemoryTx::new`], but at most `buffers` frames are accepted.
    pub fn with_limit(max_mtu: u16, buffers: usize) -> Self {
        MemoryTx {
            remaining: Some(buffers),
            ..MemoryTx::new(max_mtu)
        }
    }

    pub fn buffer_len(&self) -> usize {
        self.buffer_len
    }

    /// Takes the frames collected so far, leaving the collector empty.
    pub fn drain(&mut self) -> std::vec::Drain<'_, EmittedFrame> {
        self.frames.drain(..)
    }
}

impl Emit for MemoryTx {
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        if self.remaining == Some(0) {
            return false;
        }
        let mut data = vec![0u8; self.buffer_len];
        let len = build(&mut data);
        if len == 0 || len > data.len() {
            return false;
        }
        data.truncate(len);
        if let Some(n) = self.remaining.as_mut() {
            *n -= 1;
        }
        self.frames.push(EmittedFrame { port, data });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_frames_in_order_and_honours_the_limit() {
        let mut tx = MemoryTx::with_limit(1500, 2);
        assert_eq!(tx.buffer_len(), 1518);
        assert!(tx.emit(3, &mut |b: &mut [u8]| {
            b[..2].copy_from_slice(&[1, 2]);
            2
        }));
        assert!(!tx.emit(1, &mut |_: &mut [u8]| 0), "nothing written");
        assert!(tx.emit(1, &mut |b: &mut [u8]| {
            b[0] = 9;
            1
        }));
        assert!(!tx.emit(1, &mut |_: &mut [u8]| 1), "limit reached");
        let got: Vec<_> = tx.drain().collect();
        assert_eq!(
            got,
            vec![
                EmittedFrame {
                    port: 3,
                    data: vec![1, 2]
                },
                EmittedFrame {
                    port: 1,
                    data: vec![9]
                },
            ]
        );
        assert!(tx.frames.is_empty());
        assert_eq!(MemoryTx::new(576).buffer_len(), MIN_EMIT_BUFFER);
    }
}
