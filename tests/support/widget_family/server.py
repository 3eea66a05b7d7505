"""The widget inventory API on loopback: a few widgets, one stored in clear, a token with scopes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WIDGETS = {"w-1": True, "w-2": False, "w-3": True}


class WidgetServer:
    def __init__(self, token: str | None = None, denied: frozenset[str] = frozenset()) -> None:
        self.token = token
        self.denied = denied  # paths answered 403 (a token missing a scope)
        self.requests = 0  # how many requests arrived (a test can check that none did)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests += 1
                if outer.token and self.headers.get("Authorization") != f"Bearer {outer.token}":
                    return self._send(401, {"detail": "bad token"})
                if any(self.path.startswith(p) for p in outer.denied):
                    return self._send(403, {"detail": "token lacks the scope"})
                parts = self.path.strip("/").split("/")
                if parts[:1] == ["sites"] and len(parts) == 2:
                    return self._send(200, {"site": parts[1]})
                if parts[:1] == ["sites"] and parts[2:] == ["widgets"]:
                    return self._send(200, {"widgets": [{"id": w} for w in WIDGETS]})
                if parts[:1] == ["widgets"] and len(parts) == 2 and parts[1] in WIDGETS:
                    return self._send(200, {"id": parts[1], "encrypted": WIDGETS[parts[1]]})
                return self._send(404, {"detail": "not found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Request-Id", f"req-{threading.get_ident()}")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WidgetServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    """Serve until killed, printing the URL (the CLI test runs this as a process)."""
    import sys
    import time

    with WidgetServer(token=sys.argv[1] if len(sys.argv) > 1 else None) as server:
        print(server.url, flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
