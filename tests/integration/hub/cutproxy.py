#!/usr/bin/env python3
"""TCP proxy for the delivery tests: forwards 127.0.0.1:<free port> to the
hub. The first connection is cut with a reset (SO_LINGER 0) in both
directions as soon as exactly CUT bytes went from the client to the hub, so
the cut falls at a chosen byte of the stream (inside a D4 frame); later
connections are passed through untouched. Writes the port it listens on to
PORTFILE, and the number of connections and bytes it saw to stdout.
usage: cutproxy.py HUB_PORT CUT PORTFILE"""
import select
import socket
import struct
import sys
import threading

hub_port, cut, portfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
import os
os.rename(portfile + ".tmp", portfile)


def reset(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    except OSError:
        pass


def pipe(cli, n):
    hub = socket.create_connection(("127.0.0.1", hub_port))
    sent = 0
    limit = cut if n == 0 else None
    try:
        while True:
            r, _, _ = select.select([cli, hub], [], [])
            if cli in r:
                want = 65536 if limit is None else min(65536, limit - sent)
                d = cli.recv(want)
                if not d:
                    hub.shutdown(socket.SHUT_WR)
                    break
                hub.sendall(d)
                sent += len(d)
                if limit is not None and sent >= limit:
                    print("cut connection %d after %d bytes" % (n, sent), flush=True)
                    reset(hub)
                    reset(cli)
                    return
            if hub in r:
                d = hub.recv(65536)
                if not d:
                    break
                cli.sendall(d)
        # drain the other direction until both ends are done
        while True:
            d = hub.recv(65536)
            if not d:
                break
            cli.sendall(d)
    except OSError:
        pass
    finally:
        reset(hub)
        reset(cli)


n = 0
while True:
    c, _ = ls.accept()
    threading.Thread(target=pipe, args=(c, n), daemon=True).start()
    n += 1
