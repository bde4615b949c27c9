"""A stand-in for OpenWeatherMap's current-weather endpoint, for the e2e runs (no internet here).

GET /data/2.5/weather?q=... answers a canned 200 body; `q` starting with "unknown" answers OpenWeatherMap's
404. Binds 127.0.0.1 on a free port and prints "listening on PORT" once ready.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BODY = {
    "coord": {"lon": -122.68, "lat": 45.52},
    "weather": [{"id": 800, "main": "Clear", "description": "clear sky"}],
    "main": {
        "temp": 61.5,
        "feels_like": 60.1,
        "temp_min": 58.0,
        "temp_max": 64.4,
        "pressure": 1021,
        "humidity": 62,
    },
    "name": "Portland",
    "cod": 200,
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        if url.path != "/data/2.5/weather":
            self.answer(404, {"cod": "404", "message": "not found"})
            return
        q = parse_qs(url.query).get("q", [""])[0]
        if q.lower().startswith("unknown"):
            self.answer(404, {"cod": "404", "message": "city not found"})
        else:
            self.answer(200, BODY)

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
