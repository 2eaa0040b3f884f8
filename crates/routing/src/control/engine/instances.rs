//! The instances' lives: made from the configuration (and on reload
//! either made afresh or kept and reconfigured, as their registration
//! says), handed their sockets' events, and asked for what they want done
//! with sockets.

use std::time::{Duration, Instant};

use super::{Engine, Host, Instance};
use crate::control::protocol::{
    Protocol, ProtocolConfig, ProtocolInput, ReloadStyle, SocketEvent, SocketRequest, Transmit,
};
use crate::control::rib::notify::SourceFilter;
use crate::control::rib::Rib;

/// Names an instance for as long as it runs; a reload that replaces an
/// instance gives the new one a new key (so the event loop closes the old
/// one's sockets), one it keeps keeps its key.
pub type InstanceKey = u64;

/// What an instance wants done with its sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceIo {
    Request(SocketRequest),
    Transmit(Transmit),
}

impl Engine {
    /// Makes what `config` asks for: a new instance of every configured
    /// protocol, except (when `self` already runs one) those reloaded in
    /// place ([`ReloadStyle::InPlace`]), which are reconfigured where they
    /// run. New instances read their input files. The first error fails
    /// the whole call; instances reconfigured before it keep the new
    /// configuration (only live instances are reconfigured in place, after
    /// every new instance has read its files).
    pub(super) fn start_instances(
        &mut self,
        config: &ProtocolConfig,
        now: Instant,
    ) -> Result<Vec<Instance>, String> {
        let mut fresh = Vec::new();
        for registration in self.registry {
            if self.keeps(registration.name, config) {
                continue;
            }
            let Some(mut protocol) = (registration.create)(config) else {
                continue;
            };
            configure(&self.host, &self.rib, protocol.as_mut(), config, now)?;
            fresh.push(Instance {
                key: self.next_key,
                registration,
                protocol,
                subscriber: None,
                subscribed: SourceFilter::NONE,
                last_apply: Duration::ZERO,
            });
            self.next_key += 1;
        }
        for i in 0..self.instances.len() {
            if self.keeps(self.instances[i].registration.name, config) {
                let protocol = self.instances[i].protocol.as_mut();
                configure(&self.host, &self.rib, protocol, config, now)?;
            }
        }
        Ok(fresh)
    }

    /// Whether the running instance of protocol `name` stays (reloaded in
    /// place and still configured).
    fn keeps(&self, name: &str, config: &ProtocolConfig) -> bool {
        self.instances.iter().any(|i| stays(i, name, config))
    }

    /// Makes `fresh` and the kept instances the running ones, in
    /// registry order, each with the journal it wants; the others stop.
    pub(super) fn install(&mut self, fresh: Vec<Instance>) {
        let config = &self.inputs.protocols;
        let mut running = Vec::new();
        let mut fresh = fresh.into_iter().peekable();
        let mut old = std::mem::take(&mut self.instances);
        for registration in self.registry {
            let kept = old.iter().position(|i| stays(i, registration.name, config));
            if let Some(k) = kept {
                running.push(old.remove(k));
            } else if fresh
                .peek()
                .is_some_and(|i| i.registration.name == registration.name)
            {
                running.push(fresh.next().expect("peeked"));
            }
        }
        for stopped in old {
            if let Some(id) = stopped.subscriber {
                self.rib.unsubscribe(id);
            }
        }
        self.instances = running;
        // A kept instance whose reconfiguration changed the sources it
        // follows gets a new journal (it reads the new sources' routes
        // from the RIB itself: a journal starts empty).
        for i in &mut self.instances {
            let filter = i.protocol.subscription();
            if filter != i.subscribed {
                if let Some(id) = i.subscriber.take() {
                    self.rib.unsubscribe(id);
                }
                i.subscribed = filter;
            }
            if i.subscriber.is_none() && !filter.is_empty() {
                i.subscriber = Some(self.rib.subscribe(filter));
            }
        }
    }

    /// The keys of the running instances.
    pub fn instance_keys(&self) -> Vec<InstanceKey> {
        self.instances.iter().map(|i| i.key).collect()
    }

    /// Hands instance `key` an event of one of its sockets; its route
    /// changes go to the RIB and the subscribers hear of them. An error is
    /// the instance's complaint about the input (it stays running).
    pub fn handle_socket(
        &mut self,
        key: InstanceKey,
        now: Instant,
        event: SocketEvent<'_>,
    ) -> Result<(), String> {
        let Some(i) = self.instances.iter().position(|i| i.key == key) else {
            return Ok(()); // stopped meanwhile: its sockets are being closed
        };
        let input = ProtocolInput::Socket(event);
        let result = self.instances[i]
            .protocol
            .handle_input(now, input, &self.rib);
        self.drain_routes(i);
        self.notify(now);
        // Routes from a socket (a BGP UPDATE) open the publication window
        // now: otherwise the engine's deadline would not name it, and
        // they would wait for the next protocol timer (a keepalive).
        if self.published {
            self.publisher.note(&self.rib, now);
        }
        result
    }

    /// An operator action (`bgp reset PEER`) for whichever instance
    /// claims it; its route changes go to the RIB as after a socket event.
    /// An action named after a protocol that does not run is an error;
    /// `None`: nobody's.
    pub fn act(&mut self, action: &str) -> Option<Result<serde_json::Value, String>> {
        let now = (self.host.clock)();
        for i in 0..self.instances.len() {
            let answer = self.instances[i]
                .protocol
                .handle_action(now, action, &self.rib);
            if let Some(answer) = answer {
                self.drain_routes(i);
                self.notify(now);
                return Some(answer);
            }
        }
        let first = action.split_whitespace().next()?;
        let r = self.registry.iter().find(|r| r.name == first)?;
        Some(Err(format!(
            "{} is not configured ({})",
            r.title, r.section
        )))
    }

    /// The next thing an instance wants done with its sockets: its
    /// requests to open first (a socket exists before bytes go to it), then
    /// its transmits, then its closes (bytes handed over before a close,
    /// such as a NOTIFICATION, are sent).
    pub fn poll_io(&mut self) -> Option<(InstanceKey, InstanceIo)> {
        for i in &mut self.instances {
            while let Some(request) = i.protocol.poll_socket_request() {
                if let SocketRequest::Close { .. } = request {
                    self.closes.push_back((i.key, request));
                } else {
                    return Some((i.key, InstanceIo::Request(request)));
                }
            }
            if let Some(transmit) = i.protocol.poll_transmit() {
                return Some((i.key, InstanceIo::Transmit(transmit)));
            }
        }
        let (key, close) = self.closes.pop_front()?;
        Some((key, InstanceIo::Request(close)))
    }
}

/// Whether running instance `i` is protocol `name`'s and stays through a
/// reload to `config` (reloaded in place and still configured).
fn stays(i: &Instance, name: &str, config: &ProtocolConfig) -> bool {
    i.registration.name == name
        && i.registration.reload == ReloadStyle::InPlace
        && config.has_section(name)
}

/// Applies `config` to `protocol` and hands it its input files.
fn configure(
    host: &Host,
    rib: &Rib,
    protocol: &mut dyn Protocol,
    config: &ProtocolConfig,
    now: Instant,
) -> Result<(), String> {
    let files = protocol.reconfigure(now, config)?.files;
    for path in &files {
        let bytes = (host.read_file)(path)?;
        let input = ProtocolInput::File {
            path,
            bytes: &bytes,
        };
        protocol.handle_input(now, input, rib)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
