"""Load from wrk (Debian's package): a C client, so the load costs the two
cores little and what is measured is the server.

Each request is one of `Call`s (its token, method, path, body), taken in turn;
one wrk thread drives all the connections, so each call is sent once before
any is sent again.
"""

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CONNECTIONS = 32


@dataclass(frozen=True)
class Call:
    token: str
    method: str
    path: str
    body: str = ""


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("make bench needs wrk (apt-get install wrk; `make bench` installs it)")
    return found


def load(base_url: str, calls: list[Call], seconds: int, connections: int = CONNECTIONS) -> Result:
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "calls.lua"
        script.write_text(_script(calls))
        argv = [wrk_binary(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
        output = subprocess.run(
            [*argv, "-s", str(script), base_url], capture_output=True, text=True, check=True
        ).stdout
    return _parse(output)


def _script(calls: list[Call]) -> str:
    rows = ",\n".join(
        "{"
        + ", ".join(json.dumps(v) for v in (f"Bearer {c.token}", c.method, c.path, c.body))
        + "}"
        for c in calls
    )
    return f"""
local calls = {{
{rows}
}}
local i = 0
request = function()
  i = i + 1
  local call = calls[((i - 1) % #calls) + 1]
  local headers = {{["authorization"] = call[1], ["content-type"] = "application/json"}}
  local body = nil
  if call[4] ~= "" then body = call[4] end
  return wrk.format(call[2], call[3], headers, body)
end
"""


def _parse(output: str) -> Result:
    def number(pattern: str) -> float:
        match = re.search(pattern, output)
        return float(match[1]) if match else 0.0

    def ms(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", output)
        if not match:
            return 0.0
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]
        return float(match[1]) * scale

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(number(r"Non-2xx or 3xx responses: (\d+)"))
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Result(number(r"Requests/sec:\s+([\d.]+)"), ms("50%"), ms("99%"), errors)
