#!/usr/bin/env python3
"""A minimal BGP-4 peer for scripts/bench-bgp (standard library only).

  sink   --listen ADDR --as N --id ID --out FILE
         accepts sessions one after the other, answers OPEN/KEEPALIVE,
         discards UPDATEs and writes FILE when a session's End-of-RIB of
         IPv4 and IPv6 has arrived (wall-clock time, bytes, UPDATE count): "the time BIRD
         takes to send a table" to a peer that costs nothing.
  replay --connect ADDR --local ADDR --next-hop IPV4 --as N --id ID
         --trace FILE.gz --marker PREFIX --go FILE --out FILE
         connects (IPv4 or IPv6), waits until FILE --go exists, then sends
         the LINX-style trace (`time a|w prefix nexthop`) as fast as the
         socket takes it, one UPDATE per line as the trace has them (next
         hop --next-hop for IPv4 prefixes, --local for IPv6 ones; AS_PATH =
         our AS), then announces PREFIX as a marker; writes the send
         start/end times to FILE and keeps the session up until killed.

Not a BGP implementation for anything else: no collision handling, no
error handling beyond closing.
"""

import argparse
import gzip
import ipaddress
import json
import os
import socket
import struct
import sys
import threading
import time

MARKER = b"\xff" * 16


def message(kind, body):
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


def open_message(asn, router_id, hold=90):
    caps = b""
    for afi in (1, 2):  # multiprotocol IPv4 / IPv6 unicast
        caps += bytes([1, 4]) + struct.pack("!HBB", afi, 0, 1)
    caps += bytes([65, 4]) + struct.pack("!I", asn)  # 4-octet AS
    params = bytes([2, len(caps)]) + caps
    my_as = asn if asn < 65536 else 23456
    body = struct.pack("!BHH", 4, my_as, hold) + ipaddress.IPv4Address(router_id).packed
    return message(1, body + bytes([len(params)]) + params)


KEEPALIVE = message(4, b"")


def nlri(net):
    n = (net.prefixlen + 7) // 8
    return bytes([net.prefixlen]) + net.network_address.packed[:n]


def attr(flags, code, value):
    if len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def update(prefix, announce, asn, hop4, hop6):
    net = ipaddress.ip_network(prefix, strict=False)
    path = attr(0x40, 2, bytes([2, 1]) + struct.pack("!I", asn))
    origin = attr(0x40, 1, b"\x00")
    if net.version == 4:
        if not announce:
            w = nlri(net)
            return message(2, struct.pack("!H", len(w)) + w + b"\x00\x00")
        attrs = origin + path + attr(0x40, 3, hop4.packed)
        return message(2, b"\x00\x00" + struct.pack("!H", len(attrs)) + attrs + nlri(net))
    if not announce:
        attrs = attr(0x80, 15, struct.pack("!HB", 2, 1) + nlri(net))
    else:
        reach = struct.pack("!HBB", 2, 1, 16) + hop6.packed + b"\x00" + nlri(net)
        attrs = origin + path + attr(0x80, 14, reach)
    return message(2, b"\x00\x00" + struct.pack("!H", len(attrs)) + attrs)


def read_messages(conn, on_message):
    buf = b""
    while True:
        data = conn.recv(1 << 20)
        if not data:
            return
        buf += data
        at = 0
        while len(buf) - at >= 19:
            length = struct.unpack_from("!H", buf, at + 16)[0]
            if len(buf) - at < length:
                break
            on_message(buf[at + 18], buf[at + 19 : at + length])
            at += length
        buf = buf[at:]


def sink(args):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.listen, 179))
    listener.listen(1)
    while True:
        conn, _ = listener.accept()
        sink_session(args, conn)
        conn.close()


def sink_session(args, conn):
    conn.sendall(open_message(args.asn, args.id) + KEEPALIVE)
    state = {"updates": 0, "bytes": 0, "eor": set(), "first": None}

    def on_message(kind, body):
        state["bytes"] += 19 + len(body)
        if kind == 1:
            conn.sendall(KEEPALIVE)
        elif kind == 4:
            conn.sendall(KEEPALIVE)
        elif kind == 2:
            state["updates"] += 1
            if state["first"] is None:
                state["first"] = time.time()
            if body == b"\x00\x00\x00\x00":
                state["eor"].add("ipv4")
            elif body == b"\x00\x00\x00\x06\x80\x0f\x03\x00\x02\x01":
                state["eor"].add("ipv6")
            if state["eor"] == {"ipv4", "ipv6"}:
                with open(args.out, "w") as f:
                    json.dump(
                        {
                            "end_of_rib_at": time.time(),
                            "first_update_at": state["first"],
                            "updates": state["updates"],
                            "bytes": state["bytes"],
                        },
                        f,
                    )
                state["eor"].add("written")

    keepalive = threading.Thread(target=keepalives, args=(conn,), daemon=True)
    keepalive.start()
    try:
        read_messages(conn, on_message)
    except OSError:
        pass


def keepalives(conn):
    while True:
        time.sleep(20)
        try:
            conn.sendall(KEEPALIVE)
        except OSError:
            return


def replay(args):
    local = ipaddress.ip_address(args.next_hop)
    hop6 = ipaddress.ip_address(args.local)
    messages = []
    with gzip.open(args.trace, "rt") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[1] not in ("a", "w"):
                continue
            messages.append(update(parts[2], parts[1] == "a", args.asn, local, hop6))
    marker = update(args.marker, True, args.asn, local, hop6)
    conn = socket.create_connection((args.connect, 179), source_address=(args.local, 0))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.sendall(open_message(args.asn, args.id))
    threading.Thread(target=read_messages, args=(conn, lambda k, b: None), daemon=True).start()
    threading.Thread(target=keepalives, args=(conn,), daemon=True).start()
    conn.sendall(KEEPALIVE)
    while not os.path.exists(args.go):
        time.sleep(0.01)
    start = time.time()
    blob = b"".join(messages) + marker
    conn.sendall(blob)
    end = time.time()
    with open(args.out, "w") as f:
        json.dump({"start": start, "sent": end, "updates": len(messages), "bytes": len(blob)}, f)
    while True:
        time.sleep(3600)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sink", "replay"])
    p.add_argument("--listen")
    p.add_argument("--connect")
    p.add_argument("--local")
    p.add_argument("--next-hop")
    p.add_argument("--as", dest="asn", type=int, required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--trace")
    p.add_argument("--marker")
    p.add_argument("--go")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    (sink if args.mode == "sink" else replay)(args)


if __name__ == "__main__":
    sys.exit(main())
