"""A real uvicorn server in a thread, for clients that speak HTTP themselves (aepp)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvicorn
from fastapi import FastAPI

from segmint.api.app import create_app
from tests.support import CLIENT_ID, CLIENT_SECRET, ORG, make_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def live_server(home: Path, **settings: Any) -> Iterator[tuple[str, FastAPI]]:
    """The service on a free port with ``settings``: its base URL and its app, once healthy."""
    port = free_port()
    app = create_app(make_settings(home, port=port, **settings))
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base)
        yield base, app
    finally:
        instance.should_exit = True
        thread.join(timeout=30)


def _wait_until_healthy(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def configure_aepp(aepp: Any, base: str) -> None:
    """The unmodified aepp client pointed at ``base`` as aepp.md §4 describes."""
    aepp.configure(
        org_id=ORG,
        client_id=CLIENT_ID,
        secret=CLIENT_SECRET,
        scopes="openid,AdobeID,read_organizations",
        sandbox="prod",
        environment="support",
        endpoint=base,
    )
    aepp.config.config_object["oauthTokenEndpointV2"] = f"{base}/ims/token/v3"
