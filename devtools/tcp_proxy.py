"""A TCP proxy a test controls: forward to a real server, cut the line, or let it hang.

Faults that fail fast and faults that hang:
- `cut()`: every connection is closed and new ones are refused (a server that went away);
- `hold()`: connections stay open and new ones are accepted, but no byte goes through in either
  direction (a network partition, a server that stopped answering): only the clients' own
  timeouts and heartbeats can tell. `release()` lets the held bytes through again;
- `heal_half_open()`, while holding: the partition heals but the connections it held are dead
  without either end being told: the server's side is closed, the clients' side stays open and
  silent forever (half-open), while new connections work again.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.dead = False  # severed by heal_half_open: nothing is forwarded ever again


class TcpProxy:
    """Listens on 127.0.0.1:`port` and forwards to `target`; see the module for its faults."""

    def __init__(self, target: tuple[str, int], hold_new_only: bool = False) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        # Set while forwarding; cleared by hold(). With `hold_new_only`, a hold affects only the
        # connections made during it (a server that accepts and never answers), and the ones in
        # progress finish normally.
        self.flowing = threading.Event()
        self.flowing.set()
        self.hold_new_only = hold_new_only
        self._links: list[_Link] = []
        self._zombies: list[socket.socket] = []  # half-open client sockets, kept open on purpose
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every live connection and refuse new ones until `restore()`."""
        self.open.clear()
        with self._lock:
            for link in self._links:
                for sock in (link.client, link.upstream):
                    if sock is not None:
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
            self._links.clear()

    def restore(self) -> None:
        self.open.set()

    def hold(self) -> None:
        """Stop forwarding without closing anything: the line hangs until `release()`."""
        self.flowing.clear()

    def release(self) -> None:
        """Forward again, held bytes first."""
        self.flowing.set()

    def heal_half_open(self) -> None:
        """End a hold the way a healed partition does: every connection that was held is dead
        without its client knowing (the server's side is closed, the client's stays open and
        silent), and new connections work again."""
        with self._lock:
            held, self._links = self._links, []
            for link in held:
                link.dead = True
                self._zombies.append(link.client)
                if link.upstream is not None:
                    with contextlib.suppress(OSError):
                        link.upstream.shutdown(socket.SHUT_RDWR)
                    link.upstream.close()
        self.flowing.set()

    def close(self) -> None:
        self._closed = True
        self.flowing.set()
        self.cut()
        for sock in self._zombies:
            sock.close()
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()
                continue
            link = _Link(client)
            with self._lock:
                self._links.append(link)
            # Connected upstream only once the line flows: during a hold the client's handshake
            # hangs, as with a server that accepted the connection and never answers.
            threading.Thread(target=self._connect, args=(link,), daemon=True).start()

    def _connect(self, link: _Link) -> None:
        self.flowing.wait()
        if link.dead or self._closed or not self.open.is_set():
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            link.client.close()
            return
        upstream.settimeout(None)
        link.upstream = upstream
        immune = self.hold_new_only
        threading.Thread(target=self._pipe, args=(link, link.client, upstream, immune), daemon=True).start()
        threading.Thread(target=self._pipe, args=(link, upstream, link.client, immune), daemon=True).start()

    def _pipe(self, link: _Link, src: socket.socket, dst: socket.socket, immune: bool) -> None:
        """Copy src to dst; a chunk read during a hold waits until the line flows again (or the
        link is severed). A connection made before a `hold_new_only` hold is `immune` to it."""
        try:
            while chunk := src.recv(65536):
                if not immune:
                    self.flowing.wait()
                if link.dead:
                    return  # keep the half-open client socket as it is: open and silent
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            if not link.dead:
                for sock in (src, dst):
                    with contextlib.suppress(OSError):
                        sock.close()
