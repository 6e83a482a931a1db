#!/usr/bin/env python3
"""A TLS client that writes stdin to HOST:PORT and never reads: it closes
the socket right after the last write, without close_notify and without
reading anything the server sent (such as a TLS 1.3 session ticket). If the
server sent anything, the client's kernel answers the close with a reset.
usage: neverread.py HOST PORT CAFILE"""
import socket
import ssl
import sys

host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
raw = socket.create_connection((host, port))
s = ctx.wrap_socket(raw, server_hostname=host)
while True:
    d = sys.stdin.buffer.read(1 << 16)
    if not d:
        break
    s.sendall(d)
# close at once: no unwrap (close_notify), no read
raw.close()
s.detach()
