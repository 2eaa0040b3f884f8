//! Serving the sockets the poller reports ready: a stream's queue written
//! as the kernel takes it, reads bounded per wake ([`READS_PER_WAKE`]),
//! datagrams read whole, connections accepted (see the parent module).

use super::*;

impl ProtocolSockets {
    /// Writes a stream's queue until the kernel takes no more; settles a
    /// connect in progress.
    pub(super) fn flush(&mut self, registry: &Registry, token: usize) {
        let Some(entry) = self.entries.get_mut(&token) else {
            return;
        };
        let (owner, id) = (entry.owner, entry.id);
        let Kind::Stream(s) = &mut entry.kind else {
            return;
        };
        if s.connecting {
            match connect_outcome(&s.stream) {
                Ok(None) => return, // still connecting
                Ok(Some((local, remote))) => {
                    s.connecting = false;
                    let event = OwnedSocketEvent::Connected {
                        socket: id,
                        local,
                        remote,
                    };
                    self.events.push((owner, event));
                }
                Err(e) => return self.fail(registry, token, e.to_string()),
            }
        }
        let Some(Entry {
            kind: Kind::Stream(s),
            ..
        }) = self.entries.get_mut(&token)
        else {
            return;
        };
        let mut sent = 0;
        let mut error = None;
        while sent < s.queue.len() {
            match s.stream.write(&s.queue[sent..]) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        s.queue.drain(..sent);
        if let Some(e) = error {
            return self.fail(registry, token, e);
        }
        if s.queue.is_empty() {
            if s.closing {
                return self.remove(registry, token);
            }
            if s.handed > STREAM_BUFFER_HIGH {
                s.handed = 0;
                self.events
                    .push((owner, OwnedSocketEvent::Drained { socket: id }));
            }
        }
    }

    pub(super) fn read(&mut self, registry: &Registry, token: usize) {
        let Some(entry) = self.entries.get_mut(&token) else {
            return;
        };
        let (owner, id) = (entry.owner, entry.id);
        let listener = matches!(entry.kind, Kind::Listener { .. });
        let stream = matches!(entry.kind, Kind::Stream(_));
        let raw6 = matches!(entry.kind, Kind::Raw6 { .. });
        if listener {
            self.accept(registry, token);
        } else if stream {
            self.read_stream(registry, token, owner, id);
        } else if raw6 {
            self.read_raw6(registry, token, owner, id);
        } else {
            self.read_raw(registry, token, owner, id);
        }
    }

    fn read_stream(&mut self, registry: &Registry, token: usize, owner: Owner, id: SocketId) {
        for _ in 0..READS_PER_WAKE {
            let Some(Entry {
                kind: Kind::Stream(s),
                ..
            }) = self.entries.get_mut(&token)
            else {
                return;
            };
            if s.connecting {
                return;
            }
            match s.stream.read(&mut self.buffer) {
                Ok(0) => {
                    let told = self.by_id.get(&(owner, id)) == Some(&token);
                    self.remove(registry, token);
                    if told {
                        self.closed_event(owner, id, None);
                    }
                    return;
                }
                Ok(n) => {
                    if s.closing {
                        continue; // the instance is done with it
                    }
                    let bytes = self.buffer[..n].to_vec();
                    self.events
                        .push((owner, OwnedSocketEvent::Stream { socket: id, bytes }));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.fail(registry, token, e.to_string()),
            }
        }
        self.pending_reads.insert(token);
    }

    fn read_raw(&mut self, registry: &Registry, token: usize, owner: Owner, id: SocketId) {
        for _ in 0..READS_PER_WAKE {
            let Some(Entry {
                kind: Kind::Raw(socket),
                ..
            }) = self.entries.get(&token)
            else {
                return;
            };
            // SAFETY: `u8` and `MaybeUninit<u8>` have the same layout, and
            // the buffer is initialised, so viewing it as possibly
            // uninitialised bytes for recv to overwrite is sound.
            let buffer = unsafe {
                &mut *(self.buffer.as_mut_slice() as *mut [u8] as *mut [MaybeUninit<u8>])
            };
            match socket.recv_from(buffer) {
                Ok((n, _)) => {
                    let packet = self.buffer[..n].to_vec();
                    self.events
                        .push((owner, OwnedSocketEvent::Datagram { socket: id, packet }));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.fail(registry, token, e.to_string()),
            }
        }
        self.pending_reads.insert(token);
    }

    fn accept(&mut self, registry: &Registry, token: usize) {
        for _ in 0..ACCEPTS_PER_WAKE {
            let Some(Entry {
                owner,
                id,
                kind:
                    Kind::Listener {
                        listener,
                        options,
                        peers,
                    },
            }) = self.entries.get(&token)
            else {
                return;
            };
            let (owner, listener_id) = (*owner, *id);
            let (stream, remote) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // A connection that failed before it was taken (reset):
                // the listener itself is fine.
                Err(e) if e.kind() == ErrorKind::ConnectionAborted => continue,
                Err(e) => return self.fail(registry, token, e.to_string()),
            };
            let local = match stream.local_addr() {
                Ok(local) => local,
                Err(_) => continue,
            };
            // The peer's own settings (GTSM's minimum TTL among them)
            // before the instance hears of the connection and reads a byte.
            let peer = remote.ip().to_canonical();
            let options = peers
                .iter()
                .find(|p| p.address == peer)
                .map_or(options, |p| &p.options);
            if set_tcp_options(&socket2::SockRef::from(&stream), remote, options).is_err() {
                continue;
            }
            let next = self
                .next_accepted
                .entry(owner)
                .or_insert(SocketId::ACCEPTED);
            let socket = SocketId(*next);
            *next = next.checked_add(1).unwrap_or(SocketId::ACCEPTED);
            let kind = Kind::Stream(Stream {
                stream,
                connecting: false,
                queue: Vec::new(),
                handed: 0,
                closing: false,
            });
            if self.insert(registry, owner, socket, kind).is_ok() {
                let event = OwnedSocketEvent::Accepted {
                    listener: listener_id,
                    socket,
                    local,
                    remote,
                };
                self.events.push((owner, event));
            }
        }
        self.pending_reads.insert(token);
    }
}
