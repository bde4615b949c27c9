"""Test support: the entra-dev issuer as a process, tokens minted by its CLI, and ASGI apps served
by uvicorn on a port from the OS. Loopback only; every wait is bounded."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import uvicorn

ROOT = Path(__file__).resolve().parents[3]
ENTRA_DEV = Path(os.environ.get("ENTRA_DEV_BIN", ROOT / "target" / "debug" / "entra-dev"))

TENANT_ID = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a"
API_CLIENT_ID = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c"
OTHER_TENANT_ID = "0e0e0e0e-1f1f-4a2a-8b3b-4c4c4c4c4c4c"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
ALICE_OID = "a11ce000-0000-4000-8000-00000000a11c"


class Issuer:
    """``entra-dev serve`` on 127.0.0.1:0 with its own key directory."""

    def __init__(self, data_dir: Path, *serve_args: str) -> None:
        if not ENTRA_DEV.exists():
            raise RuntimeError(f"{ENTRA_DEV} is missing: build it with `cargo build -p entra-dev`")
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [str(ENTRA_DEV), "--data-dir", str(data_dir), "serve", "--bind", "127.0.0.1:0", *serve_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.instance = self._read_instance()

    def _read_instance(self) -> str:
        assert self.proc.stdout is not None
        lines: "queue.Queue[str]" = queue.Queue()
        out = self.proc.stdout

        def pump() -> None:
            for line in out:
                lines.put(line)
            lines.put("")

        threading.Thread(target=pump, daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                break
            if not line:
                break
            if line.strip().startswith("Instance"):
                return line.split()[1]
        self.stop()
        raise RuntimeError("entra-dev serve did not print its instance URL")

    def mint(self, *args: str, data_dir: Optional[Path] = None) -> str:
        """A token from ``entra-dev token`` (its flags: --scope, --role, --app, --audience,
        --expired, --tenant, --claim, --version, ...)."""
        out = subprocess.run(
            [str(ENTRA_DEV), "--data-dir", str(data_dir or self.data_dir), "token",
             "--instance", self.instance, *args],
            check=True, capture_output=True, text=True, timeout=60,
        )
        return out.stdout.strip()

    def stats(self) -> Dict[str, Any]:
        with urllib.request.urlopen(f"{self.instance}stats", timeout=10) as r:
            return json.load(r)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Served:
    """An ASGI app served by uvicorn in a thread, on a socket bound (and listening) before the
    server starts: requests queue in the backlog until it accepts them."""

    def __init__(self, app: Any) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="auto", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


def tamper_signature(token: str) -> str:
    """The same token with one signature byte changed (still valid base64url)."""
    head, payload, sig = token.split(".")
    flipped = ("A" if sig[10] != "A" else "B")
    return ".".join([head, payload, sig[:10] + flipped + sig[11:]])


def problem(body: bytes) -> Dict[str, Any]:
    doc = json.loads(body)
    assert set(doc) >= {"type", "title", "status", "detail", "code"}, doc
    return doc


def values(headers: Any, name: str) -> List[str]:
    return headers.get_list(name) if hasattr(headers, "get_list") else headers.getlist(name)
