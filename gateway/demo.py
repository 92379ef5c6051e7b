"""python -m gateway.demo: the browser demo page (web/dist/demo) on DEMO_PORT.

Static files as esbuild built them, plus `/config.json` telling the page
where the gateway is. Nothing is cached, so a rebuilt page shows at once.
"""

import functools
import json
import sys
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from gateway.settings import ROOT, Settings

PAGES = ROOT / "web" / "dist" / "demo"


class DemoHandler(SimpleHTTPRequestHandler):
    def __init__(self, *args, config: bytes, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._config = config
        super().__init__(*args, directory=str(PAGES), **kwargs)

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/config.json":
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self._config)))
            self.end_headers()
            self.wfile.write(self._config)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the gateway logs every call the page makes


def main() -> None:
    settings = Settings.from_env()
    if not (PAGES / "index.html").exists():
        sys.exit("gateway.demo: the page is not built (web/dist/demo): run `make run`")
    config = json.dumps({"gatewayUrl": settings.gateway_url}).encode()
    handler = functools.partial(DemoHandler, config=config)
    server = ThreadingHTTPServer((settings.host, settings.demo_port), handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
