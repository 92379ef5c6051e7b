"""An HTTP proxy in front of the S3 server that sees every request, for the
client's tests: it counts the part PUTs, and plays storage's faults.

A media_service whose S3_ENDPOINT_URL is the tap signs URLs that point at
it, so a client's PUTs pass through it as its service's own calls do. Modes:

- `hold_puts_after(n)`: after n part PUTs have been answered, the next ones
  wait (their bodies unread) until `release()`, which forwards them, or
  `release(cut=True)`, which drops them: a slow link, to stop a client
  mid-upload;
- `fail_next_puts(status, n)`: the next n part PUTs get `status` at once
  (403: how storage answers an expired URL);
- `down()` / `up()`: every request is cut without an answer, as if storage
  were not there, and back.
"""

import base64
import hashlib
import http.client
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CHUNK = 1024 * 1024


class StorageTap:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.part_puts: list[int] = []  # part numbers of the PUTs answered 2xx, in order
        self.puts = 0  # every PUT that reached the tap, parts or whole objects
        # As S3 and R2 do (the local S3 server does not): the SHA-256 of each
        # part stored, by (uploadId, part number), reported in ListParts.
        self.part_checksums: dict[tuple[str, int], str] = {}
        self._corrupt = 0  # part PUTs still to damage on their way
        self._lock = threading.Condition()
        self._hold_after: int | None = None
        self._failures: list[int] = []
        self._down = False
        self._cut_generation = 0
        self.held = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold_puts_after(self, count: int) -> None:
        with self._lock:
            self._hold_after = count

    def release(self, cut: bool = False) -> None:
        """Let held PUTs go on; with `cut`, the ones held now are cut unanswered
        and never reach storage (the link died with the client)."""
        with self._lock:
            self._hold_after = None
            self._cut_generation += cut
            self._lock.notify_all()

    def fail_next_puts(self, status: int, count: int) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def corrupt_next_parts(self, count: int) -> None:
        """The next `count` part PUTs reach storage with one byte changed, as a
        storage that checks nothing would keep them."""
        with self._lock:
            self._corrupt += count

    def down(self) -> None:
        self._down = True

    def up(self) -> None:
        self._down = False

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    # What the handler asks, under the lock.

    def _before_part_put(self) -> int | None:
        """Wait while PUTs are held; a status to answer with instead of
        forwarding (0: cut the connection)."""
        with self._lock:
            generation = self._cut_generation
            while self._hold_after is not None and len(self.part_puts) >= self._hold_after:
                self.held += 1
                self._lock.notify_all()
                self._lock.wait()
                self.held -= 1
            if self._cut_generation != generation:
                return 0
            return self._failures.pop(0) if self._failures else None

    def _stored(self, part: int) -> None:
        with self._lock:
            self.part_puts.append(part)
            self._lock.notify_all()


def _handler_for(tap: StorageTap) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            if self.command == "PUT":
                tap.puts += 1
            part = _part_number(self.command, self.path)
            refusal = tap._before_part_put() if part is not None else None
            if tap._down or refusal == 0:
                self.close_connection = True
                return  # no answer at all: the client sees the connection cut
            try:
                if refusal is not None:
                    self._refuse(refusal)
                    return
                status = self._relay()
            except (ConnectionError, TimeoutError):
                self.close_connection = True  # the client went away (killed)
                return
            if part is not None and 200 <= status < 300:
                tap._stored(part)

        def _relay(self) -> int:
            # The whole body first, as S3 does: a client killed mid-PUT stores nothing.
            body = self._part_as_stored(self._read_body())
            upstream = http.client.HTTPConnection("127.0.0.1", tap.target_port, timeout=60)
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in self.headers.items():
                upstream.putheader(key, value)
            upstream.endheaders(body)
            reply = upstream.getresponse()
            answer = self._with_part_checksums(reply.read())
            self.send_response_only(reply.status, reply.reason)
            # A HEAD's Content-Length is the object's: pass it on as it is.
            keep_length = self.command == "HEAD"
            for key, value in reply.getheaders():
                if key.lower() not in ("transfer-encoding", "connection") and (
                    keep_length or key.lower() != "content-length"
                ):
                    self.send_header(key, value)
            if not keep_length:
                self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            upstream.close()
            return reply.status

        def _part_as_stored(self, body: bytes) -> bytes:
            """A part's bytes as storage will keep them, their checksum noted."""
            part, upload_id = _part_number(self.command, self.path), _upload_id(self.path)
            if part is None or upload_id is None:
                return body
            with tap._lock:
                if tap._corrupt and body:
                    tap._corrupt -= 1
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
                tap.part_checksums[(upload_id, part)] = digest
            return body

        def _with_part_checksums(self, answer: bytes) -> bytes:
            """A ListParts reply, each part with the checksum S3 would report."""
            upload_id = _upload_id(self.path)
            if self.command != "GET" or upload_id is None or b"<Part>" not in answer:
                return answer

            def add(match: re.Match[bytes]) -> bytes:
                checksum = tap.part_checksums.get((upload_id, int(match[1])))
                extra = f"<ChecksumSHA256>{checksum}</ChecksumSHA256>" if checksum else ""
                return match[0] + extra.encode()

            return re.sub(rb"<PartNumber>(\d+)</PartNumber>", add, answer)

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length", "0"))
            chunks = []
            while length:
                chunk = self.rfile.read(min(CHUNK, length))
                if not chunk:
                    raise ConnectionError("the client went away mid-body")
                chunks.append(chunk)
                length -= len(chunk)
            return b"".join(chunks)

        def _refuse(self, status: int) -> None:
            self._read_body()
            body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            self.send_response_only(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler


def _part_number(method: str, path: str) -> int | None:
    if method != "PUT":
        return None
    numbers = parse_qs(urlsplit(path).query).get("partNumber")
    return int(numbers[0]) if numbers else None


def _upload_id(path: str) -> str | None:
    ids = parse_qs(urlsplit(path).query).get("uploadId")
    return ids[0] if ids else None
