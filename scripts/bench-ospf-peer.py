#!/usr/bin/env python3
"""A scripted OSPFv2 speaker for scripts/bench-ospf (standard library only).

  bench-ospf-peer.py --id 10.0.0.1 --size 100 --out FILE \
      --interface b0=192.0.2.1 [--interface b1=10.255.1.2 ...]

holds a generated SIZE x SIZE grid of routers as router LSAs (itself the
corner (0, 0)): router n = i * SIZE + j has router id 10.0.0.0 + 256 n + 1
(the corner: --id), point-to-point links of cost 1 to its grid neighbours
and a stub network 10.0.0.0 + 256 n /24 (so SIZE <= 255). Its own router
LSA also has a point-to-point link to the neighbour named on each
--interface (IFNAME=NEIGHBOUR_ROUTER_ID) and that link's subnet as a stub.

On each interface (point-to-point network, hello 1 s, dead 40 s, null
authentication, MTU 1500) it says hello to AllSPFRouters, forms one
adjacency (master or slave, whichever the router ids make it), describes
the whole grid in Database Description packets, answers Link State
Requests with Link State Updates, and acknowledges whatever the neighbour
floods. It requests nothing (the neighbour's LSAs do not matter to it).
FILE gets, as JSON, the wall-clock time of the first hello and of each
adjacency's end of the exchange (Full on this side), and counters (every
second, and on SIGTERM).

Not an OSPF implementation for anything else: one area (0), no DR
election, no retransmission of its own updates (a neighbour asks again),
no aging beyond the age it stamps on what it sends, no checks of what it
is sent beyond the header.
"""

import argparse
import ipaddress
import json
import select
import signal
import socket
import struct
import sys
import time

ALL_SPF = "224.0.0.5"
HELLO, DD, LSR, LSU, ACK = 1, 2, 3, 4, 5
OPTIONS = 0x02  # E: AS-external capable, as BIRD and FRR expect in area 0
MTU = 1500
HELLO_S, DEAD_S, RXMT_S = 1, 40, 2
# Room for LSA headers / LSAs / requests in one packet: IP 20 + OSPF 24.
ROOM = MTU - 20 - 24
INITIAL_SEQ = 0x80000001
I_BIT, M_BIT, MS_BIT = 4, 2, 1


def ip(text):
    return int(ipaddress.IPv4Address(text))


def dotted(n):
    return str(ipaddress.IPv4Address(n))


def inet_checksum(data):
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def fletcher(lsa):
    """The LSA checksum (ISO 8473 Fletcher, RFC 2328 12.1.7): over the
    LSA but its age, placed at byte 16."""
    data = lsa[2:]
    c0 = c1 = 0
    for b in data:
        c0 += b
        c1 += c0
    c0 %= 255
    c1 %= 255
    x = ((len(data) - 14 - 1) * c0 - c1) % 255
    if x == 0:
        x = 255
    y = 510 - c0 - x
    if y > 255:
        y -= 255
    return lsa[:16] + bytes([x, y]) + lsa[18:]


def router_lsa(router_id, links):
    """A router LSA (type 1) of `router_id` with `links`: (id, data, type, metric)."""
    body = struct.pack("!BBH", 0, 0, len(links))
    for link_id, data, kind, metric in links:
        body += struct.pack("!IIBBH", link_id, data, kind, 0, metric)
    header = struct.pack("!HBBIIIHH", 0, OPTIONS, 1, router_id, router_id, INITIAL_SEQ, 0, 20 + len(body))
    return fletcher(header + body)


def grid(size, me, interfaces):
    """The grid's router LSAs, keyed (type, id, advertising router)."""
    lsas = {}
    for i in range(size):
        for j in range(size):
            n = i * size + j
            rid = me if n == 0 else 0x0A000000 + (n << 8) + 1
            links = []
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                a, b = i + di, j + dj
                if 0 <= a < size and 0 <= b < size:
                    m = a * size + b
                    other = me if m == 0 else 0x0A000000 + (m << 8) + 1
                    links.append((other, rid, 1, 1))
            links.append((0x0A000000 + (n << 8), 0xFFFFFF00, 3, 1))
            if n == 0:
                for itf in interfaces:
                    links.append((itf.neighbor_id, itf.address, 1, 1))
                    links.append((itf.address & itf.mask, itf.mask, 3, 1))
            lsa = router_lsa(rid, links)
            lsas[(1, rid, rid)] = lsa
    return lsas


class Interface:
    def __init__(self, name, neighbor_id):
        self.name = name
        self.neighbor_id = neighbor_id
        self.address, self.mask, self.index = address_of(name)
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 89)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, name.encode())
        s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
        s.setsockopt(socket.SOL_SOCKET, 32, 16 << 20)  # SO_SNDBUFFORCE
        mreqn = socket.inet_aton(ALL_SPF) + socket.inet_aton(dotted(self.address)) + struct.pack("@i", self.index)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xC0)
        s.setblocking(False)
        self.sock = s
        self.reset()

    def reset(self):
        self.heard = None  # the neighbour's router id once heard
        self.two_way = False
        self.state = "down"  # down, exstart, exchange, full
        self.master = False
        self.seq = 0
        self.to_describe = []
        self.last_sent = None  # the last DD (master: to retransmit; slave: to repeat)
        self.last_sent_at = 0.0
        self.exchange_done_at = None


def address_of(name):
    import fcntl

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    req = struct.pack("16s16x", name.encode())
    addr = fcntl.ioctl(s, 0x8915, req)  # SIOCGIFADDR
    mask = fcntl.ioctl(s, 0x891B, req)  # SIOCGIFNETMASK
    s.close()
    return (
        struct.unpack("!I", addr[20:24])[0],
        struct.unpack("!I", mask[20:24])[0],
        socket.if_nametoindex(name),
    )


class Speaker:
    def __init__(self, args):
        self.me = ip(args.id)
        self.interfaces = []
        for spec in args.interface:
            name, neighbor = spec.split("=")
            self.interfaces.append(Interface(name, ip(neighbor)))
        self.lsas = grid(args.size, self.me, self.interfaces)
        self.keys = list(self.lsas)
        self.born = time.monotonic()
        self.out = args.out
        self.report = {
            "lsas": len(self.lsas),
            "lsa_bytes": sum(len(v) for v in self.lsas.values()),
            "first_hello": None,
            "exchange_done": {},
            "requests_answered": 0,
            "requested_by_interface": {},
            "updates_sent": 0,
            "acks_sent": 0,
            "received": 0,
        }

    def write_report(self):
        with open(self.out + ".tmp", "w") as f:
            json.dump(self.report, f)
        import os

        os.replace(self.out + ".tmp", self.out)

    def aged(self, lsa):
        age = min(3600, int(time.monotonic() - self.born) + 1)
        return struct.pack("!H", age) + lsa[2:]

    def send(self, itf, kind, body):
        length = 24 + len(body)
        header = struct.pack("!BBHIIHHQ", 2, kind, length, self.me, 0, 0, 0, 0)
        packet = header + body
        packet = packet[:12] + struct.pack("!H", inet_checksum(packet)) + packet[14:]
        try:
            itf.sock.sendto(packet, (ALL_SPF, 0))
        except BlockingIOError:
            select.select([], [itf.sock], [], 1.0)
            itf.sock.sendto(packet, (ALL_SPF, 0))

    def hello(self, itf):
        if self.report["first_hello"] is None:
            self.report["first_hello"] = time.time()
            self.write_report()
        body = struct.pack("!IHBBIII", itf.mask, HELLO_S, OPTIONS, 1, DEAD_S, 0, 0)
        if itf.heard is not None:
            body += struct.pack("!I", itf.heard)
        self.send(itf, HELLO, body)

    def dd(self, itf, flags, headers=b""):
        body = struct.pack("!HBBI", MTU, OPTIONS, flags, itf.seq) + headers
        itf.last_sent = body
        itf.last_sent_at = time.monotonic()
        self.send(itf, DD, body)

    def next_headers(self, itf):
        count = min(len(itf.to_describe), ROOM // 20 - 1)
        chunk, itf.to_describe = itf.to_describe[:count], itf.to_describe[count:]
        return b"".join(self.aged(self.lsas[k])[:20] for k in chunk)

    def start_exchange(self, itf, master, seq):
        itf.state = "exchange"
        itf.master = master
        itf.seq = seq
        itf.to_describe = list(self.keys)

    def exchange_done(self, itf):
        itf.state = "full"
        itf.exchange_done_at = time.time()
        self.report["exchange_done"][itf.name] = itf.exchange_done_at
        self.write_report()

    def on_hello(self, itf, body):
        if len(body) < 20:
            return
        neighbors = [struct.unpack_from("!I", body, at)[0] for at in range(20, len(body) - 3, 4)]
        first = itf.heard is None
        itf.heard = self.sender
        if self.me in neighbors and not itf.two_way:
            itf.two_way = True
            itf.state = "exstart"
            itf.seq = int(time.time()) & 0xFFFFFFF
            self.dd(itf, I_BIT | M_BIT | MS_BIT)
        elif self.me not in neighbors and itf.two_way:
            itf.reset()
            itf.heard = self.sender
        if first:
            self.hello(itf)

    def on_dd(self, itf, body):
        if len(body) < 8 or itf.state == "down":
            return
        flags, seq = body[3], struct.unpack_from("!I", body, 4)[0]
        more = bool(flags & M_BIT)
        if flags & I_BIT and flags & MS_BIT and len(body) == 8:
            if self.sender > self.me and itf.state in ("exstart", "exchange"):
                # It is master: answer as slave with our first headers.
                self.start_exchange(itf, False, seq)
                self.slave_reply(itf, more)
            return
        if itf.state == "exstart":
            if not flags & (I_BIT | MS_BIT) and seq == itf.seq and self.sender < self.me:
                self.start_exchange(itf, True, seq)
                self.master_next(itf, more)
            return
        if itf.state not in ("exchange", "full"):
            return
        if itf.master:
            if flags & MS_BIT or seq != itf.seq:
                return  # a repeat of an older answer
            if itf.state == "exchange" and not itf.to_describe and not more and not itf.last_sent[3] & M_BIT:
                self.exchange_done(itf)
            elif itf.state == "exchange":
                self.master_next(itf, more)
        else:
            if not flags & MS_BIT:
                return
            if seq == itf.seq:
                self.send(itf, DD, itf.last_sent)  # the master repeated itself
            elif seq == (itf.seq + 1) & 0xFFFFFFFF and itf.state == "exchange":
                itf.seq = seq
                self.slave_reply(itf, more)

    def master_next(self, itf, _their_more):
        itf.seq = (itf.seq + 1) & 0xFFFFFFFF
        headers = self.next_headers(itf)
        self.dd(itf, MS_BIT | (M_BIT if itf.to_describe else 0), headers)

    def slave_reply(self, itf, master_more):
        headers = self.next_headers(itf)
        more = bool(itf.to_describe)
        self.dd(itf, M_BIT if more else 0, headers)
        if not more and not master_more:
            self.exchange_done(itf)

    def on_request(self, itf, body):
        if itf.state not in ("exchange", "full"):
            return
        batch, size = [], 0
        for at in range(0, len(body) - 11, 12):
            key = struct.unpack_from("!III", body, at)
            lsa = self.lsas.get(key)
            if lsa is None:
                continue  # BadLSReq in a real router; never asked by a sane one
            self.report["requests_answered"] += 1
            by = self.report["requested_by_interface"]
            by[itf.name] = by.get(itf.name, 0) + 1
            if size + len(lsa) > ROOM - 4 and batch:
                self.update(itf, batch)
                batch, size = [], 0
            batch.append(self.aged(lsa))
            size += len(lsa)
        if batch:
            self.update(itf, batch)

    def update(self, itf, lsas):
        self.report["updates_sent"] += 1
        self.send(itf, LSU, struct.pack("!I", len(lsas)) + b"".join(lsas))

    def on_update(self, itf, body):
        if len(body) < 4:
            return
        count = struct.unpack_from("!I", body)[0]
        headers, at = [], 4
        for _ in range(count):
            if at + 20 > len(body):
                break
            length = struct.unpack_from("!H", body, at + 18)[0]
            if length < 20:
                break
            headers.append(body[at : at + 20])
            at += length
        # Direct acknowledgement, one packet per update.
        for start in range(0, len(headers), ROOM // 20):
            self.report["acks_sent"] += 1
            self.send(itf, ACK, b"".join(headers[start : start + ROOM // 20]))

    def receive(self, itf):
        while True:
            try:
                data = itf.sock.recv(65536)
            except BlockingIOError:
                return
            ihl = (data[0] & 0x0F) * 4
            packet = data[ihl:]
            if len(packet) < 24 or packet[0] != 2:
                continue
            kind, length = packet[1], struct.unpack_from("!H", packet, 2)[0]
            self.sender, area = struct.unpack_from("!II", packet, 4)
            if area != 0 or self.sender == self.me or length > len(packet):
                continue
            self.report["received"] += 1
            body = packet[24:length]
            handler = {HELLO: self.on_hello, DD: self.on_dd, LSR: self.on_request, LSU: self.on_update}
            if kind in handler:
                handler[kind](itf, body)

    def run(self):
        next_hello = 0.0
        by_fd = {itf.sock.fileno(): itf for itf in self.interfaces}
        while True:
            now = time.monotonic()
            if now >= next_hello:
                for itf in self.interfaces:
                    self.hello(itf)
                next_hello = now + HELLO_S
                self.write_report()
            for itf in self.interfaces:
                # The master's retransmission of an unanswered DD (and the
                # first one of ExStart).
                waiting = itf.state == "exstart" or (itf.state == "exchange" and itf.master)
                if waiting and itf.last_sent is not None and now - itf.last_sent_at >= RXMT_S:
                    self.dd(itf, itf.last_sent[3], itf.last_sent[8:])
            ready, _, _ = select.select(list(by_fd), [], [], 0.2)
            for fd in ready:
                self.receive(by_fd[fd])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--id", required=True)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--interface", action="append", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if not 2 <= args.size <= 255:
        p.error("--size between 2 and 255")
    speaker = Speaker(args)
    speaker.write_report()

    def stop(_signal, _frame):
        speaker.write_report()  # the counters as they are at the end
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    speaker.run()


if __name__ == "__main__":
    sys.exit(main())
