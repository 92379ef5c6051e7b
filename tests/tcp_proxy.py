"""A TCP proxy that plays a dependency's outages for the tests.

In front of PostgreSQL or the S3 server it forwards bytes both ways until told
otherwise:

- `hang()`:   every connection, open or new, stays open and nothing more is
              forwarded either way: a server that has stopped answering;
- `refuse()`: open connections are cut and new ones closed at once: a server
              that is down;
- `heal()`:   forwarding resumes (held bytes go on) and new connections work.
"""

import select
import socket
import threading

PASS, HANG, REFUSE = "pass", "hang", "refuse"


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._mode = PASS
        self._changed = threading.Condition()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def hang(self) -> None:
        self._set(HANG)

    def refuse(self) -> None:
        self._set(REFUSE)
        self._cut_all()

    def heal(self) -> None:
        self._set(PASS)

    def close(self) -> None:
        self._closed = True
        self._set(PASS)
        self._listener.close()
        self._cut_all()

    def _set(self, mode: str) -> None:
        with self._changed:
            self._mode = mode
            self._changed.notify_all()

    def _cut_all(self) -> None:
        with self._changed:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._mode == REFUSE:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._changed:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    break
                with self._changed:  # a hung server holds what it is sent
                    self._changed.wait_for(lambda: self._mode != HANG)
                sink.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for sock in (source, sink):
                sock.close()
