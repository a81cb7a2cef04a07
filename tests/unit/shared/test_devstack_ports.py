"""``free_port`` under ``BRANDCAST_PORT_SLICE``: parallel test workers never pick the same port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from brandcast.shared.devstack import PORT_POOL, PORT_SLICE_ENV, free_port


def test_a_slice_gives_its_own_ports_below_the_kernels_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PORT_SLICE_ENV, "1/3")
    ports = [free_port() for _ in range(50)]
    assert all(port in PORT_POOL and (port - PORT_POOL.start) % 3 == 1 for port in ports)
    # Taken in turn: a stack that asks for a dozen ports before binding any gets a dozen.
    assert len(set(ports)) == len(ports)
    kernel_range = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    assert max(ports) < int(kernel_range[0]), "the kernel could hand these out for port 0"


def test_slices_of_one_run_share_no_port(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[set[int]] = []
    for worker in range(3):
        monkeypatch.setenv(PORT_SLICE_ENV, f"{worker}/3")
        taken.append({free_port() for _ in range(30)})
    assert not taken[0] & taken[1]
    assert not taken[0] & taken[2]
    assert not taken[1] & taken[2]


def test_a_port_in_use_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PORT_SLICE_ENV, "2/3")
    ports = PORT_POOL[2::3]
    turn = ports.index(free_port())
    following, after = ports[(turn + 1) % len(ports)], ports[(turn + 2) % len(ports)]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", following))
        listener.listen()
        assert free_port() == after


def test_without_a_slice_the_kernel_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PORT_SLICE_ENV, raising=False)
    port = free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))  # nothing held it
