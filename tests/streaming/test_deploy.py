"""The deployment files route /api/v1/streaming to the `streaming` process (issue 6, Build 3)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_the_streaming_process_as_decided():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    streaming = compose["services"]["streaming"]
    assert streaming["command"].startswith("uvicorn ourvoice.asgi:application --host 0.0.0.0")
    assert "--port 8001" in streaming["command"]
    assert "--ws-per-message-deflate false" in streaming["command"]
    assert "127.0.0.1:8001:8001" in streaming["ports"]
    probe = " ".join(streaming["healthcheck"]["test"])
    assert "/api/v1/streaming/health" in probe
    assert "streaming" in compose["services"]["caddy"]["depends_on"]


def test_caddy_sends_streaming_paths_to_the_streaming_service():
    caddy = (ROOT / "docs" / "deploy" / "Caddyfile").read_text()
    matcher = re.search(r"@streaming path (.+)", caddy)
    assert matcher is not None
    assert matcher.group(1).split() == ["/api/v1/streaming", "/api/v1/streaming/*"]
    block = caddy[caddy.index("handle @streaming") :]
    assert "reverse_proxy streaming:8001" in block.split("handle {")[0]
    assert "flush_interval -1" in block.split("handle {")[0]


def test_nginx_sends_streaming_paths_to_the_streaming_upstream_unbuffered():
    nginx = (ROOT / "docs" / "deploy" / "nginx.conf").read_text()
    assert re.search(r"upstream ourvoice_streaming \{\s*server streaming:8001;", nginx)
    location = re.search(r"location ~ \^/api/v1/streaming\(/\|\$\) \{(.*?)\n    \}", nginx, re.S)
    assert location is not None
    body = location.group(1)
    for line in (
        "proxy_pass http://ourvoice_streaming;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_buffering off;",
    ):
        assert line in body
    pattern = re.compile(r"^/api/v1/streaming(/|$)")
    for path in ("/api/v1/streaming", "/api/v1/streaming/user", "/api/v1/streaming/health"):
        assert pattern.match(path)
    assert not pattern.match("/api/v1/streamingx")
