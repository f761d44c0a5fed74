"""bovine-herd (PyPI, 0.5.19) as a real ActivityPub peer on loopback, for the interop tests.

Three parts:

- `app_from_env()`: the Quart application (`BovineHerd(app, db_url=…)`) for the database in
  `BOVINE_DB_URL`, served by `hypercorn 'tests.live.bovine_peer:app_from_env()'`;
- `python -m tests.live.bovine_peer register NAME --db URL --domain http://127.0.0.1:PORT`:
  creates the schema and one actor with bovine's own admin store (`BovineAdminStore.register`,
  as federation.md §7(b) describes; not `add_identity_string_to_actor`, which breaks key
  lookups) and prints its actor id, key id and private key as JSON;
- `BovinePeer`: starts and stops that server in a subprocess from a test, and acts as the
  registered actor through bovine's client API (`bovine.BovineClient` with the actor's RSA key,
  HTTP-signed requests to its own outbox and collections: the herd's C2S interface).

bovine answers 401 to unsigned GETs of its actors (a signed-fetch peer), only knows http when
the registered domain says so, and tries to fetch JSON-LD contexts from the internet at run
time (harmless offline: it logs the failures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


# --- the server ---------------------------------------------------------------------------------


def make_app(db_url: str):  # pragma: no cover - runs in the peer process
    from bovine_herd import BovineHerd
    from quart import Quart

    quart_app = Quart("bovine_peer")
    BovineHerd(quart_app, db_url=db_url)
    return quart_app


def app_from_env():  # pragma: no cover - `hypercorn 'tests.live.bovine_peer:app_from_env()'`
    return make_app(os.environ["BOVINE_DB_URL"])


async def _register(handle: str, db_url: str, domain: str) -> dict[str, str]:
    from bovine_store import BovineAdminStore
    from bovine_store.config import tortoise_config
    from bovine_store.models import BovineActor
    from bovine_store.types import EndpointType
    from tortoise import Tortoise

    await Tortoise.init(config=tortoise_config(db_url))
    await Tortoise.generate_schemas(safe=True)
    try:
        bovine_name = await BovineAdminStore(domain=domain).register(handle)
        actor = await BovineActor.get(bovine_name=bovine_name).prefetch_related(
            "endpoints", "keypairs"
        )
        endpoints = {e.endpoint_type: e.name for e in actor.endpoints}
        keypair = next(k for k in actor.keypairs if k.name == "serverKey")
        actor_id = endpoints[EndpointType.ACTOR]
        return {
            "bovine_name": bovine_name,
            "actor_id": actor_id,
            "key_id": f"{actor_id}#{keypair.name}",
            "private_key": keypair.private_key,
            "inbox": endpoints[EndpointType.INBOX],
            "outbox": endpoints[EndpointType.OUTBOX],
            "followers": endpoints[EndpointType.FOLLOWERS],
            "following": endpoints[EndpointType.FOLLOWING],
        }
    finally:
        await Tortoise.close_connections()


# --- the test-side handle -----------------------------------------------------------------------


class BovinePeer:
    """A bovine-herd server on 127.0.0.1:`port` with one registered actor (`handle`)."""

    def __init__(self, port: int, handle: str = "carol") -> None:
        self.port = port
        self.handle = handle
        self.domain = f"127.0.0.1:{port}"
        self.base = f"http://{self.domain}"
        self._tmp = tempfile.TemporaryDirectory(prefix="bovine-peer-")
        self.db_url = f"sqlite://{self._tmp.name}/bovine.sqlite3"
        self.log = Path(self._tmp.name) / "hypercorn.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OURVOICE_", "DJANGO_"))},
            "BOVINE_DB_URL": self.db_url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
        self.actor: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> BovinePeer:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.live.bovine_peer",
                "register",
                self.handle,
                "--db",
                self.db_url,
                "--domain",
                self.base,
            ],
            cwd=self._tmp.name,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"bovine register failed:\n{result.stderr[-3000:]}")
        self.actor = json.loads(result.stdout.strip().splitlines()[-1])
        handle = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hypercorn",
                "tests.live.bovine_peer:app_from_env()",
                "--bind",
                self.domain,
                "--log-level",
                "info",
            ],
            cwd=self._tmp.name,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_up(timeout)
        return self

    def _wait_up(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"bovine-herd exited early\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/.well-known/nodeinfo", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"bovine-herd did not come up\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
            return "--- bovine-herd ---\n" + "\n".join(text)
        return "--- bovine-herd: no log ---"

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            self.proc = None
        self._tmp.cleanup()

    # --- acting as the actor (bovine's client API: HTTP-signed C2S requests) -------------------

    @property
    def actor_id(self) -> str:
        return self.actor["actor_id"]

    def _client(self, request: dict[str, Any], timeout: float = 30) -> Any:
        """Run one `bovine.BovineClient` request as the actor, in a subprocess (bovine keeps a
        JSON-LD cache file in its working directory: the temp dir, not the checkout)."""
        config = {
            "actor_id": self.actor["actor_id"],
            "public_key_url": self.actor["key_id"],
            "secret": self.actor["private_key"],
        }
        result = subprocess.run(
            [sys.executable, "-m", "tests.live.bovine_peer", "client"],
            input=json.dumps({"config": config, **request}),
            cwd=self._tmp.name,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"bovine client {request.get('op')} failed:\n{result.stderr[-3000:]}"
            )
        return json.loads(result.stdout.strip().splitlines()[-1])

    def send(self, activity: dict[str, Any]) -> str:
        """POST `activity` to the actor's outbox (as the actor); returns the new activity id."""
        return self._client({"op": "send", "activity": activity})

    def get(self, url: str) -> dict[str, Any]:
        """GET `url` signed by the actor (bovine's collections answer their owner)."""
        return self._client({"op": "get", "url": url})

    def collection_items(self, url: str) -> list[Any]:
        """The items of the actor's collection `url` (up to 5 pages)."""
        return self._client({"op": "items", "url": url})

    def inbox_items(self) -> list[Any]:
        return self.collection_items(self.actor["inbox"])

    def stored_object(self, object_id: str) -> dict[str, Any] | None:
        """The JSON bovine stored under `object_id` (read from its sqlite database), or None."""
        import sqlite3

        path = self.db_url.removeprefix("sqlite://")
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
            row = conn.execute(
                "SELECT content FROM storedjsonobject WHERE id = ?", (object_id,)
            ).fetchone()
        return json.loads(row[0]) if row else None


async def _client_request(request: dict[str, Any]) -> Any:  # pragma: no cover - subprocess
    from bovine import BovineClient

    async with BovineClient(**request["config"]) as client:
        if request["op"] == "send":
            response = await client.send_to_outbox(request["activity"])
            if response.status >= 300:
                raise RuntimeError(f"outbox POST → {response.status}: {await response.text()}")
            return response.headers.get("location", "")
        if request["op"] == "get":
            return await client.get(request["url"])
        if request["op"] == "items":
            collection = await client.get(request["url"])
            items = list(collection.get("orderedItems") or collection.get("items") or [])
            page = collection.get("first")
            for _ in range(5):
                if not page:
                    break
                page_doc = await client.get(page) if isinstance(page, str) else page
                items.extend(page_doc.get("orderedItems") or page_doc.get("items") or [])
                page = page_doc.get("next")
            return items
        raise ValueError(f"unknown op {request['op']!r}")


def main() -> None:  # pragma: no cover - subprocess entry point
    parser = argparse.ArgumentParser(description="bovine-herd peer helper")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="create the schema and register one actor")
    reg.add_argument("handle")
    reg.add_argument("--db", required=True)
    reg.add_argument("--domain", required=True, help="with scheme, e.g. http://127.0.0.1:8100")
    sub.add_parser("client", help="one BovineClient request (JSON on stdin) as the actor")
    args = parser.parse_args()
    if args.command == "register":
        sys.stdout.write(
            json.dumps(asyncio.run(_register(args.handle, args.db, args.domain))) + "\n"
        )
    else:
        sys.stdout.write(
            json.dumps(asyncio.run(_client_request(json.loads(sys.stdin.read())))) + "\n"
        )


if __name__ == "__main__":
    main()
