"""Starting and stopping the processes of the local mesh, leaving no orphans.

Each child runs in its own process group (so a service's forked servers go
with it) and is told by the kernel to stop if the runner dies first.
"""

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

STOP_TIMEOUT_SECONDS = 15


class StartError(Exception):
    """A component did not come up; the message says which and why."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _dying_with_us(argv: list[str]) -> list[str]:
    """`argv` run so that the kernel stops it if we die first (util-linux's
    setpriv sets PDEATHSIG, then execs it). No Python runs between fork and
    exec: a preexec_fn could deadlock in a process that has threads."""
    return ["setpriv", "--pdeathsig", "TERM", "--", *argv]


def start(
    name: str, argv: list[str], env: dict[str, str], cwd: Path, log_dir: Path | None
) -> Child:
    """Start `argv`; its output goes to log_dir/name.log, or to our own if None."""
    output: IO[bytes] | None = None
    log_path = None
    if log_dir is not None:
        log_path = log_dir / f"{name}.log"
        output = log_path.open("ab")
    process = subprocess.Popen(
        _dying_with_us(argv),
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        start_new_session=True,  # its own process group: stopped with all its children
    )
    if output is not None:
        output.close()
    return Child(name=name, process=process, log_path=log_path)


def stop(child: Child, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM the child's whole group, then SIGKILL whatever is left after `timeout`."""
    _signal_group(child, signal.SIGTERM)
    try:
        child.process.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(child, signal.SIGKILL)
        child.process.wait()
    _signal_group(child, signal.SIGKILL)  # stragglers of the group, if any


# Below Linux's ephemeral range (32768-60999), where outgoing connections take
# their local ports: a port picked there (as the kernel picks for port 0) can
# be taken by some connection before its server binds it.
FREE_PORTS = range(20_000, 32_768)
_handed_out: set[int] = set()
_handing_out = threading.Lock()


def free_port() -> int:
    """A loopback port nothing listens on now, and not handed out before by
    this process (a server started later will bind it)."""
    with _handing_out:
        for port in random.sample(FREE_PORTS, 500):
            if port in _handed_out:
                continue
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise OSError("no free loopback port below the ephemeral range")


def kill(child: Child) -> None:
    """SIGKILL the child's whole group at once: no drain, as in a crash."""
    _signal_group(child, signal.SIGKILL)
    child.process.wait()


def _signal_group(child: Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.process.pid, signum)


def wait_until(
    ready: Callable[[], bool], what: str, timeout: float, watch: Child | None = None
) -> None:
    """Poll `ready` until true; fail early if the watched child exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if watch is not None and watch.process.poll() is not None:
            raise StartError(
                f"{watch.name} exited with {watch.process.returncode} while waiting for {what}\n"
                f"{watch.log_tail()}"
            )
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(0.05)
    tail = f"\n{watch.log_tail()}" if watch else ""
    raise StartError(f"timed out after {timeout}s waiting for {what}{tail}")
