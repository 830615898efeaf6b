"""Ports for a stack's servers are taken together and never repeat: a stack given one port twice cannot start.

Taken one at a time (bind, read, close, again), a port freed by one call may be handed to the next (about 2 in
10,000 sets of three, 7 in 10,000 sets of five, on Linux). Taken together, every socket still bound when the next
is asked for, the system cannot hand any out twice."""

from __future__ import annotations

import socket

from emulators.azurite import free_ports

ROUNDS, PORTS = 10, 200  # taken one at a time, 10 x 200 ports would repeat one in nearly every run


def test_ports_taken_together_are_distinct_loopback_ports_nothing_listens_on() -> None:
    for _ in range(ROUNDS):
        ports = free_ports(PORTS)
        assert len(ports) == PORTS and len(set(ports)) == PORTS, sorted(p for p in ports if ports.count(p) > 1)
    with socket.socket() as server:  # free once returned: a server binds it
        server.bind(("127.0.0.1", free_ports(1)[0]))
