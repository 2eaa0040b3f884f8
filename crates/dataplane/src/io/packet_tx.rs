//! Sending prepared frames out of an interface through an AF_PACKET socket:
//! `ferroute gen`'s fallback where the kernel refuses XDP live frames
//! (`io::xdp::Generator::send`; e.g. without CAP_SYS_RESOURCE in the
//! bounding set, BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES is EPERM).
//!
//! The frames are built once (one per flow, see [`FlowFrames`]) and cycled
//! in flow order; each `sendmmsg` call hands the kernel a batch of
//! [`BATCH`] of them, one skb per frame. With `PACKET_QDISC_BYPASS` the
//! socket hands each skb straight to the driver (no qdisc, no packet taps),
//! as the live frames skip them too.
//!
//! Counting: every frame is either accepted by the driver or dropped by it
//! (a veth whose peer's ring is full drops the frame and counts it in its
//! `tx_dropped`; the socket then reports ENOBUFS). `sendmmsg` stops at the
//! first failing message and forgets its error when earlier ones went out,
//! so a short count means the next frame was dropped: the socket blocks for
//! buffer space (never EAGAIN) and the caller blocks the stop signals (no
//! EINTR), which leaves the driver's verdict as the reason a message fails.
//! A lasting failure (the interface went down) fails the next call on its
//! first message and is returned.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::set_int_option;

/// Frames per `sendmmsg` call: enough to amortise the system call (about
/// 0.3 µs against ~1 µs of work per frame), few enough that the
/// per-second report and the stop signals are handled promptly.
pub const BATCH: usize = 1024;

/// `PACKET_QDISC_BYPASS` (`<linux/if_packet.h>`).
const PACKET_QDISC_BYPASS: libc::c_int = 20;

/// One frame per flow, in flow order, laid out back to back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFrames {
    bytes: Vec<u8>,
    frame_len: usize,
}

impl FlowFrames {
    /// `flows` frames of `frame_len` bytes each, all zero until set.
    pub fn zeroed(flows: usize, frame_len: usize) -> FlowFrames {
        FlowFrames {
            bytes: vec![0; flows * frame_len],
            frame_len,
        }
    }

    pub fn flows(&self) -> usize {
        self.bytes.len() / self.frame_len.max(1)
    }

    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The frame of `flow` (panics past the last flow).
    pub fn frame(&self, flow: usize) -> &[u8] {
        &self.bytes[flow * self.frame_len..(flow + 1) * self.frame_len]
    }

    pub fn frame_mut(&mut self, flow: usize) -> &mut [u8] {
        &mut self.bytes[flow * self.frame_len..(flow + 1) * self.frame_len]
    }
}

/// What one [`PacketSender::send`] did with its frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketSent {
    /// Frames the driver accepted.
    pub sent: u64,
    /// Frames the driver dropped (and counted as dropped itself).
    pub dropped: u64,
}

/// An AF_PACKET socket bound to one interface, cycling through the frames
/// of a [`FlowFrames`]. Not `Send` (it holds pointers into the frames):
/// make one per sending thread.
pub struct PacketSender<'f> {
    fd: OwnedFd,
    frames: &'f FlowFrames,
    /// One per flow, pointing at its frame (read only by the kernel).
    iovecs: Vec<libc::iovec>,
    /// The batch handed to `sendmmsg`; each entry's `msg_iov` is set to the
    /// flow it carries before every call.
    messages: Vec<libc::mmsghdr>,
    next_flow: usize,
}

impl std::fmt::Debug for PacketSender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketSender")
            .field("fd", &self.fd)
            .field("flows", &self.frames.flows())
            .field("next_flow", &self.next_flow)
            .finish()
    }
}

impl<'f> PacketSender<'f> {
    /// Opens a socket on `ifindex` (of the calling thread's network
    /// namespace) that sends `frames` starting with flow `first_flow`.
    /// `qdisc_bypass`: hand frames straight to the driver (falls back to
    /// the qdisc path silently where the option is unknown).
    pub fn open(
        ifindex: u32,
        frames: &'f FlowFrames,
        first_flow: usize,
        qdisc_bypass: bool,
    ) -> std::io::Result<PacketSender<'f>> {
        if frames.flows() == 0 || frames.frame_len() == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no frames to send",
            ));
        }
        // Protocol 0: the socket receives nothing, it only sends.
        // SAFETY: plain socket call.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data; zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: `addr` is a valid sockaddr_ll of the given length.
        let ret = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if ret != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Refusals of either option leave a socket that still works, only
        // slower.
        if qdisc_bypass {
            let _ = set_int_option(&fd, libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1);
        }
        // A batch of the largest frames in flight (4 MiB): the socket
        // blocks when its buffer is full, so a deep buffer keeps the driver
        // busy between calls. Root may exceed net.core.wmem_max.
        let _ = set_int_option(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20);
        let iovecs = (0..frames.flows())
            .map(|flow| libc::iovec {
                iov_base: frames.frame(flow).as_ptr() as *mut libc::c_void,
                iov_len: frames.frame_len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain data; zero is a valid value (no name, no
        // control data, no flags).
        let empty: libc::mmsghdr = unsafe { std::mem::zeroed() };
        Ok(PacketSender {
            fd,
            frames,
            iovecs,
            messages: vec![empty; BATCH],
            next_flow: first_flow % frames.flows(),
        })
    }

    /// Sends the next `count` frames: returns once the driver has taken or
    /// dropped each of them (blocks while the socket's buffer is full).
    pub fn send(&mut self, count: u64) -> std::io::Result<PacketSent> {
        let mut done = PacketSent::default();
        let flows = self.iovecs.len();
        while done.sent + done.dropped < count {
            let left = count - done.sent - done.dropped;
            let batch = (left.min(BATCH as u64)) as usize;
            let mut flow = self.next_flow;
            for message in &mut self.messages[..batch] {
                message.msg_hdr.msg_iov = &mut self.iovecs[flow];
                message.msg_hdr.msg_iovlen = 1;
                flow += 1;
                if flow == flows {
                    flow = 0;
                }
            }
            // SAFETY: `messages[..batch]` are valid mmsghdrs, each pointing
            // at one iovec of `iovecs`, which points into `frames` (borrowed
            // for 'f); the kernel only reads them, during the call.
            let ret = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    self.messages.as_mut_ptr(),
                    batch as u32,
                    0,
                )
            };
            let (accepted, dropped) = if ret < 0 {
                let error = std::io::Error::last_os_error();
                match error.raw_os_error() {
                    Some(libc::ENOBUFS) => (0, 1),
                    Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
                    _ => return Err(error),
                }
            } else if (ret as usize) < batch {
                // See the module comment: the message after the last one
                // accepted was dropped by the driver.
                (ret as usize, 1)
            } else {
                (batch, 0)
            };
            done.sent += accepted as u64;
            done.dropped += dropped;
            self.next_flow = (self.next_flow + accepted + dropped as usize) % flows;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_frames_lie_back_to_back() {
        let mut frames = FlowFrames::zeroed(3, 4);
        frames.frame_mut(1).copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(frames.flows(), 3);
        assert_eq!(frames.frame(0), [0; 4]);
        assert_eq!(frames.frame(1), [1, 2, 3, 4]);
        assert_eq!(frames.frame(2), [0; 4]);
    }
}
