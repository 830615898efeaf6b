"""Frames, paths and socket binding of the node protocol (real Unix sockets, no server)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from batch_tasks import protocol


def test_a_frame_round_trips_and_is_length_prefixed() -> None:
    frame = protocol.encode({"op": "health", "n": 1})
    assert protocol.frame_length(frame[:4]) == len(frame) - 4
    assert protocol.decode_body(frame[4:]) == {"op": "health", "n": 1}


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_body(body)


def test_an_oversized_frame_is_refused_from_its_header() -> None:
    with pytest.raises(protocol.ProtocolError, match="over"):
        protocol.frame_length((protocol.MAX_FRAME + 1).to_bytes(4, "big"))


def test_the_socket_lives_in_the_node_shared_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SITELENS_SOCKET", raising=False)
    monkeypatch.setenv("AZ_BATCH_NODE_SHARED_DIR", str(tmp_path))
    assert protocol.socket_path() == tmp_path / "sitelens.sock"
    monkeypatch.delenv("AZ_BATCH_NODE_SHARED_DIR")
    with pytest.raises(protocol.ProtocolError, match="AZ_BATCH_NODE_SHARED_DIR"):
        protocol.socket_path()


def _echo_once(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        length = protocol.frame_length(conn.recv(4))
        body = b""
        while len(body) < length:
            body += conn.recv(length - len(body))
        conn.sendall(protocol.encode({"echo": protocol.decode_body(body)}))


@pytest.mark.parametrize("depth", [1, 12])
def test_exchange_over_short_and_over_long_socket_paths(tmp_path: Path, depth: int) -> None:
    folder = tmp_path.joinpath(*["d" * 10] * depth)
    folder.mkdir(parents=True)
    path = folder / protocol.SOCKET_NAME
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    protocol.bind_path(listener, path)
    listener.listen(1)
    server = threading.Thread(target=_echo_once, args=(listener,))
    server.start()
    try:
        assert protocol.call(path, {"x": 1}, timeout=5) == {"echo": {"x": 1}}
    finally:
        server.join(5)
        listener.close()


def test_connecting_where_nothing_listens_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        protocol.connect(tmp_path / "absent.sock", timeout=1)


def test_a_peer_that_hangs_up_mid_reply_is_a_protocol_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    protocol.bind_path(listener, path)
    listener.listen(1)

    def half_reply() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.sendall(b"\x00\x00\x01\x00{")
        conn.close()

    t = threading.Thread(target=half_reply)
    t.start()
    with pytest.raises(protocol.ProtocolError, match="closed"):
        protocol.call(path, {"op": "health"}, timeout=5)
    t.join(5)
    listener.close()
