"""An HTTP server on this machine's loopback, reachable from the VM under user-mode networking
(``restrict=on`` kept): QEMU's ``guestfwd`` runs a relay for each guest connection."""

from __future__ import annotations

HTTP_FORWARD_ADDRESS = "10.0.2.100"
"""The guest's address for the loopback HTTP server of ``http_forward`` (port 80)."""

HTTP_RELAY = r"""import socket, sys, threading
# one guest connection (stdin/stdout, from QEMU's guestfwd) <-> 127.0.0.1:PORT
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def up():
    while True:
        data = sys.stdin.buffer.raw.read(65536)
        if not data:
            break
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
"""
"""The relay QEMU runs for each guest connection of ``http_forward`` (standard library only)."""
