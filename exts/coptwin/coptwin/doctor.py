"""``coptwin doctor``: check a config against the real storage and event sources.

Most failed set-ups are one of a handful of causes - wrong endpoint, a
corporate TLS proxy, rejected keys, a missing bucket or table, a column
mapping that does not match the table, a port or broker that is not there.
Each check names one cause and says in one line how to fix it, so a user does
not have to read a stack trace.  Checks that depend on an earlier failure are
reported as skipped rather than failing with a misleading message.  Every
detail passes through :func:`coptwin.storage.redact`; secrets are never shown.
"""

from __future__ import annotations

import re
import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from coptwin.config import Config
from coptwin.storage import (
    Credentials,
    apply_ca_bundle,
    ca_bundle_file,
    delta_storage_options,
    is_local,
    local_path,
    object_store,
    redact,
    resolve_credentials,
    split_s3_uri,
)

if TYPE_CHECKING:
    from obstore.store import LocalStore, S3Store

TABLES = ("readings", "sensors", "annotations", "alarms")
#: Canonical columns a table must have (under the user's names) to be usable.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "readings": ("sensor_id", "ts", "value"),
    "sensors": ("sensor_id", "kind", "lon", "lat"),
    "annotations": ("annotation_id",),
    "alarms": ("event_id", "alarm_id", "event", "ts"),
}
_CONNECT_TIMEOUT_S = 5.0
#: What to do when the server's certificate is not trusted (shown under the failed check).
TLS_REMEDY = (
    "the certificate comes from a CA this machine does not trust (corporate TLS inspection "
    "or a private CA); give coptwin that root CA as a PEM file:\n"
    'set storage.ca_bundle = "corp-root.pem" in the config, or the environment variable '
    "SSL_CERT_FILE or AWS_CA_BUNDLE (corporate machines often set one already).\n"
    "Windows - export the root CA: certmgr.msc > Trusted Root Certification Authorities > "
    "Certificates > your CA > All Tasks > Export > 'Base-64 encoded X.509 (.CER)'; "
    "or in PowerShell:\n"
    "  Get-ChildItem Cert:\\LocalMachine\\Root | Where-Object Subject -like '*YourOrg*' "
    "| Export-Certificate -FilePath corp-root.cer -Type CERT\n"
    "  certutil -encode corp-root.cer corp-root.pem"
)
_S3_CODE = re.compile(r"<Code>([^<]+)</Code>")
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "ExpiredToken",
    "InvalidToken",
    "AuthorizationHeaderMalformed",
}


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    name: str
    status: str  # "PASS" | "FAIL" | "SKIP"
    detail: str = ""
    remedy: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


def _s3_code(exc: BaseException) -> str:
    """The S3 error code in an obstore/deltalake error (``NoSuchBucket`` ...), or ""."""
    m = _S3_CODE.search(str(exc))
    if m:
        return m.group(1)
    text = str(exc)
    for code in ("NoSuchBucket", *_CREDENTIAL_CODES):
        if code in text:
            return code
    if "403 Forbidden" in text:
        return "AccessDenied"
    if "404 Not Found" in text:
        return "NotFound"
    return ""


def _short(exc: BaseException, creds: Credentials | None) -> str:
    code = _s3_code(exc)
    text = code or str(exc).splitlines()[0][:200]
    return redact(f"{type(exc).__name__}: {text}", creds)


class Doctor:
    """Runs the checks for one config; :meth:`run` returns them in display order."""

    def __init__(self, config: Config, serve: tuple[str, int] | None = None) -> None:
        self.config = config
        #: ``coptwin serve``'s (host, port): the web server there carries the webhook too.
        self.serve = serve
        self.checks: list[Check] = []
        self.creds: Credentials | None = None

    # -- bookkeeping ----------------------------------------------------------------------------
    def _add(self, name: str, ok: bool, detail: str = "", remedy: str = "") -> bool:
        self.checks.append(
            Check(name, "PASS" if ok else "FAIL", redact(detail, self.creds), "" if ok else remedy)
        )
        return ok

    def _skip(self, name: str, why: str) -> None:
        self.checks.append(Check(name, "SKIP", why))

    def _table_names(self) -> list[str]:
        return [t for t in TABLES if getattr(self.config.tables, t) is not None]

    # -- entry ----------------------------------------------------------------------------------
    def run(self) -> list[Check]:
        self._scene()
        s3 = self.config.storage.is_s3
        reachable = self._s3_connection() if s3 else self._local_folder()
        for table in self._table_names():
            self._table(table, reachable)
        self._annotations_write(reachable)
        if self.serve is not None:
            self._bindable(
                "serve: port bindable",
                *self.serve,
                "stop what holds the port (another coptwin serve?) or pass another --port/--host",
            )
        self._event_sources()
        self._notifications()
        return self.checks

    # -- the scene ------------------------------------------------------------------------------
    def _scene(self) -> None:
        """The scene opens as USD, is georeferenced (``scene.crs`` ...) and has meshes."""
        from coptwin.geo import SceneError, SceneFrame, SceneIndex
        from coptwin.geo.stage import open_stage

        name = "scene opens and is georeferenced"
        scene = self.config.scene
        if not scene.path:
            self._skip(name, "no scene.path (Kit decorates the stage it has open)")
            return
        try:
            stage = open_stage(self.config.resolve_path(scene.path))
            frame = SceneFrame.from_stage(stage, scene)
            index = SceneIndex.build(stage, scene)
        except SceneError as exc:
            key = exc.key or "scene.path"
            self._add(name, False, f"{key}: {exc.what}", f"fix {key} in {self.config.source}")
            return
        self._add(name, True, f"{frame.georef.describe()}, {len(index.buildings)} buildings")

    # -- storage: S3 ----------------------------------------------------------------------------
    def _endpoint(self) -> tuple[str, str, int]:
        scfg = self.config.storage
        url = scfg.endpoint or f"https://s3.{scfg.region}.amazonaws.com"
        parsed = urlparse(url)
        scheme = parsed.scheme or "https"
        port = parsed.port or (443 if scheme == "https" else 80)
        return scheme, parsed.hostname or "", port

    def _s3_connection(self) -> bool:
        scfg = self.config.storage
        self.creds = resolve_credentials(scfg)
        scheme, host, port = self._endpoint()
        try:
            with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S):
                pass
        except OSError as exc:
            self._add(
                "endpoint reachable",
                False,
                f"{host}:{port}: {exc.strerror or exc}",
                "check storage.endpoint (host and port), VPN/proxy and that the server is running",
            )
            for name in ("TLS verifies", "credentials accepted", "bucket exists"):
                self._skip(name, "endpoint unreachable")
            return False
        self._add("endpoint reachable", True, f"{host}:{port}")
        if not self._tls(scheme, host, port):
            self._skip("credentials accepted", "TLS failed")
            self._skip("bucket exists", "TLS failed")
            return False
        return self._credentials_and_bucket()

    def _tls(self, scheme: str, host: str, port: int) -> bool:
        scfg = self.config.storage
        if scheme != "https":
            if not scfg.allow_http:
                return self._add(
                    "TLS verifies",
                    False,
                    f"endpoint is plain http ({host}:{port}) but storage.allow_http is false",
                    "use an https endpoint, or set storage.allow_http = true for a trusted network",
                )
            self._add("TLS verifies", True, "plain http (storage.allow_http = true)")
            return True
        cafile = ca_bundle_file(scfg)
        where = "storage.ca_bundle" if scfg.ca_bundle else "$AWS_CA_BUNDLE"
        if cafile and not Path(cafile).is_file():
            return self._add(
                "TLS verifies",
                False,
                f"{where}: no such file {cafile}",
                f"fix {where}: a PEM file with your organisation's root CA",
            )
        # The bundle is trusted besides the system roots, as delta-rs and obstore do.
        ctx = ssl.create_default_context()
        if cafile:
            try:
                ctx.load_verify_locations(cafile=cafile)
            except (ssl.SSLError, OSError, ValueError) as exc:
                return self._add(
                    "TLS verifies",
                    False,
                    f"{where}: {cafile} is not a readable PEM bundle ({exc})",
                    f"fix {where}: a PEM file with your organisation's root CA",
                )
        try:
            with (
                socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S) as raw,
                ctx.wrap_socket(raw, server_hostname=host),
            ):
                pass
        except ssl.SSLCertVerificationError as exc:
            why = exc.verify_message or exc.reason or "certificate verify failed"
            return self._add(
                "TLS verifies",
                False,
                f"{host}:{port}: server certificate not trusted ({why})",
                TLS_REMEDY
                if not cafile
                else f"{where} ({cafile}) does not contain the CA that signed the server's "
                "certificate; add that root CA to the file\n" + TLS_REMEDY,
            )
        except (ssl.SSLError, OSError) as exc:
            return self._add(
                "TLS verifies",
                False,
                f"{host}:{port}: TLS handshake failed ({getattr(exc, 'reason', None) or exc})",
                f"check that {host}:{port} speaks https (storage.endpoint)",
            )
        return self._add(
            "TLS verifies", True, f"with {where + ' ' + cafile if cafile else 'system CAs'}"
        )

    def _credentials_and_bucket(self) -> bool:
        import obstore

        scfg = self.config.storage
        bucket, _ = split_s3_uri(scfg.uri)
        creds = self.creds
        if creds is None or not creds.present:
            self._add(
                "credentials accepted",
                False,
                f"no credentials in ${scfg.access_key_id_env} / ${scfg.secret_access_key_env}"
                + (f" or profile {scfg.profile!r}" if scfg.profile else ""),
                f"export {scfg.access_key_id_env} and {scfg.secret_access_key_env} "
                "(or set storage.profile)",
            )
            self._skip("bucket exists", "no credentials")
            return False
        try:
            next(iter(obstore.list(self._store(self.config.storage.uri), chunk_size=1)), None)
        except Exception as exc:
            code = _s3_code(exc)
            if code in _CREDENTIAL_CODES:
                self._add(
                    "credentials accepted",
                    False,
                    f"{code} for key from {creds.source}",
                    f"check the key pair in ${scfg.access_key_id_env} / "
                    f"${scfg.secret_access_key_env} and its permissions on bucket {bucket!r}",
                )
                self._skip("bucket exists", "credentials rejected")
                return False
            self._add("credentials accepted", True, f"key from {creds.source}")
            if code == "NoSuchBucket":
                return self._add(
                    "bucket exists",
                    False,
                    f"bucket {bucket!r}: NoSuchBucket",
                    "create the bucket or fix the bucket name in storage.uri",
                )
            return self._add(
                "bucket exists",
                False,
                _short(exc, creds),
                "check storage.endpoint, storage.region and storage.virtual_hosted_style",
            )
        self._add("credentials accepted", True, f"key from {creds.source}")
        return self._add("bucket exists", True, bucket)

    # -- storage: local -------------------------------------------------------------------------
    def _local_folder(self) -> bool:
        root = self.config.resolve_path(self.config.storage.uri)
        return self._add(
            "storage folder exists",
            root.is_dir(),
            str(root),
            "create the folder or fix storage.uri (relative paths are relative to the config file)",
        )

    # -- tables ---------------------------------------------------------------------------------
    def _table(self, table: str, storage_ok: bool) -> None:
        list_name, col_name = f"{table}: list/read", f"{table}: columns"
        if not storage_ok:
            self._skip(list_name, "storage not reachable")
            self._skip(col_name, "storage not reachable")
            return
        uri = self.config.table_uri(table)
        if not self._table_listing(table, uri, list_name):
            self._skip(col_name, "no table to read")
            return
        self._table_columns(table, uri, col_name)

    def _store(self, uri: str) -> LocalStore | S3Store:
        """An obstore store at ``uri`` with the config's credentials and CA bundle."""
        return object_store(uri, delta_storage_options(self.config.storage))

    def _table_listing(self, table: str, uri: str, name: str) -> bool:
        import obstore

        try:
            commits: list[str] = []
            if not is_local(uri) or (local_path(uri) / "_delta_log").is_dir():
                store = self._store(uri)
                first = next(iter(obstore.list(store, prefix="_delta_log/", chunk_size=100)), [])
                commits = sorted(str(m["path"]) for m in first if str(m["path"]).endswith(".json"))
            if not commits:
                if table in ("annotations", "alarms"):
                    return self._not_created_yet(name, uri)
                return self._add(
                    name,
                    False,
                    f"no Delta table at {uri} (no commit under _delta_log/)",
                    f"fix tables.{table}.path or create the table (e.g. `coptwin simulate`)",
                )
            obstore.get(store, commits[0]).bytes()
        except Exception as exc:
            code = _s3_code(exc)
            return self._add(
                name,
                False,
                f"{uri}: {_short(exc, self.creds)}",
                f"grant s3:ListBucket and s3:GetObject on prefix {split_s3_uri(uri)[1]}/*"
                if code in _CREDENTIAL_CODES
                else f"check tables.{table}.path",
            )
        return self._add(name, True, f"{uri}: list + read of _delta_log ok")

    def _not_created_yet(self, name: str, uri: str) -> bool:
        """Event tables are created by their first event; absent is fine."""
        self._add(name, True, f"{uri}: not created yet (the first event creates it)")
        return False

    def _table_columns(self, table: str, uri: str, name: str) -> None:
        from deltalake import DeltaTable

        apply_ca_bundle(self.config.storage)
        try:
            dt = DeltaTable(uri, storage_options=delta_storage_options(self.config.storage))
            columns = {f.name for f in dt.schema().fields}
        except Exception as exc:
            self._add(
                name,
                False,
                f"{uri}: {_short(exc, self.creds)}",
                "the Delta log cannot be read; check the table with `coptwin maintain`",
            )
            return
        tc = getattr(self.config.tables, table)
        missing = [c for c in REQUIRED_COLUMNS[table] if tc.column(c) not in columns]
        if missing:
            wanted = ", ".join(f"{c} -> {tc.column(c)!r}" for c in missing)
            self._add(
                name,
                False,
                f"missing {wanted}; table has {', '.join(sorted(columns))}",
                f"map the table's own names in [tables.{table}.columns], e.g. "
                f'{missing[0]} = "<column name>"',
            )
            return
        mapped = ", ".join(f"{c}={tc.column(c)}" for c in REQUIRED_COLUMNS[table])
        self._add(name, True, mapped)

    def _annotations_write(self, storage_ok: bool) -> None:
        name = "annotations: write permission"
        if self.config.tables.annotations is None:
            self._skip(name, "no annotations table configured")
            return
        if not storage_ok:
            self._skip(name, "storage not reachable")
            return
        uri = self.config.table_uri("annotations")
        probe = f"_coptwin_doctor_probe_{secrets.token_hex(6)}"
        if not self.config.storage.is_s3:
            folder = Path(uri)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / probe).write_bytes(b"probe")
                (folder / probe).unlink()
            except OSError as exc:
                self._add(name, False, f"{folder}: {exc.strerror or exc}", "make it writable")
                return
            self._add(name, True, f"wrote and deleted a probe in {folder}")
            return
        import obstore

        store = self._store(uri)
        try:
            obstore.put(store, probe, b"coptwin doctor write probe")
        except Exception as exc:
            self._add(
                name,
                False,
                f"put {uri}/{probe}: {_short(exc, self.creds)}",
                f"grant s3:PutObject (and s3:DeleteObject) on {split_s3_uri(uri)[1]}/*",
            )
            return
        try:
            obstore.delete(store, probe)
        except Exception as exc:
            self._add(
                name,
                False,
                f"delete {uri}/{probe}: {_short(exc, self.creds)} (probe object left behind)",
                f"grant s3:DeleteObject on {split_s3_uri(uri)[1]}/* and delete the probe",
            )
            return
        self._add(name, True, f"put + delete of a probe object in {uri}")

    # -- notifications --------------------------------------------------------------------------
    def _notifications(self) -> None:
        """Who sends alarm notices, each destination, failures the sender recorded."""
        from coptwin.alarms.notify import diagnose

        for d in diagnose(self.config):
            if d.ok is None:
                self._skip(d.name, d.detail)
            else:
                self._add(d.name, d.ok, d.detail, d.remedy)

    # -- event sources --------------------------------------------------------------------------
    def _event_sources(self) -> None:
        ev = self.config.events
        if ev.webhook.enabled:
            self._webhook()
            self._webhook_token()
        if ev.mqtt.enabled:
            self._mqtt()
        if ev.polling.enabled:
            self._add("events: polling", True, f"every {ev.polling.interval_s:g}s")

    def _webhook(self) -> None:
        """``coptwin run`` and Kit listen on events.webhook.host/port; ``coptwin serve``
        mounts the route on its own server instead (that port is ``serve: port bindable``)."""
        from coptwin.events.webhook import webhook_path

        cfg = self.config.events.webhook
        if self.serve is not None:
            host, port = self.serve
            where = f"{host}:{port}{webhook_path(cfg)}"
            detail = f"served by coptwin serve at {where} (events.webhook.host/port unused)"
            self._add("events: webhook", True, detail)
            return
        self._bindable(
            "events: webhook port bindable",
            cfg.host,
            cfg.port,
            "stop what holds the port (another coptwin?) or change events.webhook.port/host",
            " (coptwin run, Kit; coptwin serve takes it on its own port: doctor --serve)",
        )

    def _bindable(self, name: str, host: str, port: int, remedy: str, note: str = "") -> None:
        try:
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
                s.bind((host, port))
        except OSError as exc:
            self._add(name, False, f"{host}:{port}: {exc.strerror or exc}{note}", remedy)
            return
        self._add(name, True, f"{host}:{port}{note}")

    def _webhook_token(self) -> None:
        from coptwin.events.webhook import expected_token

        name = "events: webhook token"
        cfg = self.config.events.webhook
        if not cfg.auth_token_env:
            self._add(
                name, True, "none: senders are not authenticated (events.webhook.auth_token_env)"
            )
            return
        try:
            expected_token(cfg)
        except ValueError as exc:  # the receiver would not start: events would come by polling
            self._add(
                name,
                False,
                str(exc),
                f"set {cfg.auth_token_env} in the environment coptwin runs in, to the token "
                "your storage sends (MinIO auth_token, the SeaweedFS filer's bearer_token)",
            )
            return
        self._add(name, True, f"${cfg.auth_token_env} is set")

    def _mqtt(self) -> None:
        name = "events: MQTT connect + subscribe"
        cfg = self.config.events.mqtt
        ok, detail = probe_mqtt(cfg.host, cfg.port, cfg.topic, self.config)
        self._add(
            name,
            ok,
            detail,
            "check events.mqtt.host/port, the broker's ACL for the topic and the credentials "
            "in events.mqtt.username_env / password_env",
        )


def probe_mqtt(
    host: str, port: int, topic: str, config: Config, timeout: float = _CONNECT_TIMEOUT_S
) -> tuple[bool, str]:
    """Connect with a throw-away client id and subscribe once; (ok, detail)."""
    import os

    import paho.mqtt.client as mqtt

    cfg = config.events.mqtt
    done = threading.Event()
    result: dict[str, str] = {}
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"coptwin-doctor-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv5,
    )
    user = os.environ.get(cfg.username_env) if cfg.username_env else None
    if user:
        client.username_pw_set(user, os.environ.get(cfg.password_env or "") or None)
    if cfg.tls:
        client.tls_set(ca_certs=cfg.ca_bundle)

    def finish(text: str) -> None:
        result.setdefault("text", text)
        done.set()

    def on_connect(c, userdata, flags, rc, props) -> None:  # noqa: ANN001
        if rc.is_failure:
            finish(f"FAIL connect refused: {rc}")
        else:
            c.subscribe(topic, qos=1)

    def on_subscribe(c, userdata, mid, rcs, props) -> None:  # noqa: ANN001
        bad = [str(r) for r in rcs if r.is_failure]
        finish(f"FAIL subscribe {topic}: {', '.join(bad)}" if bad else f"OK {host}:{port} {topic}")

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    try:
        client.connect(host, port, keepalive=10)
    except (OSError, ValueError) as exc:
        return False, f"{host}:{port}: {getattr(exc, 'strerror', None) or exc}"
    client.loop_start()
    try:
        if not done.wait(timeout):
            return False, f"{host}:{port}: no CONNACK/SUBACK within {timeout:g}s"
    finally:
        client.disconnect()
        client.loop_stop()
    text = result["text"]
    return text.startswith("OK"), text.split(" ", 1)[1]


def run_checks(config: Config, serve: tuple[str, int] | None = None) -> list[Check]:
    """All checks for ``config`` (never raises for an unreachable or misconfigured system);
    ``serve``: check for ``coptwin serve`` on that (host, port) rather than ``coptwin run``."""
    return Doctor(config, serve).run()


def format_checks(checks: list[Check], color: Callable[[str], str] | None = None) -> str:
    """The checklist as text: ``PASS name  detail`` with ``-> remedy`` under failures."""
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        status = color(c.status) if color else c.status
        lines.append(f"{status}  {c.name.ljust(width)}  {c.detail}".rstrip())
        if c.failed and c.remedy:
            first, *more = c.remedy.splitlines()
            lines.append(f"      {''.ljust(width)}  -> {first}")
            lines.extend(f"      {''.ljust(width)}     {line}" for line in more)
    failed = sum(c.failed for c in checks)
    lines.append("")
    lines.append(f"{failed} check(s) failed" if failed else "all checks passed")
    return "\n".join(lines)
