"""One typed configuration for coptwin, loaded from a TOML file.

Everything the engine, the CLI and the Kit extension need is described here so
that the three read the same file the same way.  Validation happens once, at
load time, and every error names the file, the key and what was expected.

Credentials are *never* read from the file: the file only names the
environment variables (or the AWS profile) that hold them.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from coptwin.problem import Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

#: Statuses a sensor can have, in order of severity (used for sorting and legends).
#: "suspect" is the data-quality status: the reading is there but cannot be trusted
#: (outside its physical range, a flat line, an impossible rate of change).
STATUSES: tuple[str, ...] = ("alarm", "warn", "offline", "suspect", "stale", "ok", "unknown")

#: Canonical column names per table; a config maps them onto a user's own names.
CANONICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "readings": ("sensor_id", "ts", "value", "quantity", "unit", "lon", "lat", "alt", "date"),
    "sensors": (
        "sensor_id",
        "name",
        "kind",
        "layer",
        "lon",
        "lat",
        "alt",
        "mount",
        "object_id",
        "prim_path",
        "unit",
        "mount_height_m",
        "warn_low",
        "warn_high",
        "alarm_low",
        "alarm_high",
    ),
    "annotations": (
        "annotation_id",
        "event_id",
        "event",
        "created_at",
        "author",
        "target",
        "text",
        "status",
        "parent_id",
    ),
    "alarms": (
        "event_id",
        "alarm_id",
        "event",
        "ts",
        "author",
        "sensor_id",
        "layer",
        "status",
        "value",
        "reason",
        "until",
    ),
}

#: Sensor statuses that can raise an alarm (``rules.<kind>.raise_on``).
ALARM_RAISE_STATUSES: tuple[str, ...] = ("alarm", "warn", "offline", "suspect", "stale")
#: What operators can be notified of (``alarms.notify.events``).
ALARM_NOTICES: tuple[str, ...] = ("raised", "escalated", "returned", "cleared")

#: Keys that look like secrets; refused with a pointed message.
_SECRET_KEYS = {
    "access_key",
    "access_key_id",
    "secret_key",
    "secret_access_key",
    "session_token",
    "token",
    "password",
    "aws_access_key_id",
    "aws_secret_access_key",
    "auth_token",
}


#: Numeric ranges, checked by msgspec while converting (errors read "Expected `int` <= 65535").
Port = Annotated[int, Meta(ge=1, le=65535)]
#: A port to listen on; 0 lets the OS pick a free one (tests; the bound port is logged).
ListenPort = Annotated[int, Meta(ge=0, le=65535)]
Count = Annotated[int, Meta(ge=0)]
PositiveCount = Annotated[int, Meta(ge=1)]
NonNegative = Annotated[float, Meta(ge=0)]
Positive = Annotated[float, Meta(gt=0)]
Fraction = Annotated[float, Meta(ge=0, le=1)]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]


class ConfigError(Problem, ValueError):
    """A configuration file could not be read or is invalid, or what it names (a
    scene, a table) is not what it says.

    The message always starts with the file name so a user can find the problem,
    then the key when there is one: ``<file>: <key>: <what is wrong>``.
    """


class _Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class StorageConfig(_Base):
    """Where the Delta tables live and how to reach them."""

    #: A local folder or an ``s3://bucket/prefix`` URI; table paths are relative to it.
    uri: str
    #: S3 endpoint URL for MinIO, Ceph RGW, SeaweedFS; empty means AWS S3.
    endpoint: str | None = None
    region: str = "us-east-1"
    allow_http: bool = False
    #: Named AWS profile (``~/.aws/credentials``) used when the env variables are unset.
    profile: str | None = None
    access_key_id_env: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: str = "AWS_SECRET_ACCESS_KEY"
    session_token_env: str = "AWS_SESSION_TOKEN"
    #: PEM bundle for corporate TLS interception / private CAs, trusted besides the
    #: system roots (relative to the config file; unset: ``$AWS_CA_BUNDLE`` if set).
    ca_bundle: str | None = None
    #: Conditional put flavour for safe concurrent Delta commits ("etag" works on
    #: MinIO, Ceph RGW, SeaweedFS and AWS S3); None disables it.
    conditional_put: Literal["etag"] | None = "etag"
    virtual_hosted_style: bool = False

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://") or self.uri.startswith("s3a://")


class TableConfig(_Base):
    """One Delta table: its path below the storage URI and its column mapping."""

    path: str
    #: canonical column name -> the column's name in the user's table
    columns: dict[str, str] = {}

    def column(self, canonical: str) -> str:
        """The user's name for a canonical column."""
        return self.columns.get(canonical, canonical)


class TablesConfig(_Base):
    readings: TableConfig
    sensors: TableConfig
    annotations: TableConfig | None = None
    alarms: TableConfig | None = None


class LayerConfig(_Base):
    """A sensor layer operators can toggle, e.g. "environment" or "security"."""

    name: str
    title: str = ""
    kinds: list[str] = []
    visible: bool = True

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").title()


class RuleConfig(_Base):
    """Status rule for one sensor kind; sensors may override thresholds."""

    #: Only readings of this quantity drive the status (None: any quantity).
    quantity: str | None = None
    warn_low: float | None = None
    warn_high: float | None = None
    alarm_low: float | None = None
    alarm_high: float | None = None
    #: Categorical readings: value (as text, e.g. "1", "0") -> status.
    states: dict[str, str] = {}
    #: Event sensors (motion): a reading is "active" for this long after its ts.
    active_for_s: NonNegative | None = None
    #: Status while no event is active (with active_for_s).
    idle_status: str = "ok"
    #: No reading for this long -> "stale"; longer than offline_after_s -> "offline".
    stale_after_s: NonNegative | None = None
    offline_after_s: NonNegative | None = None
    #: Marker shape for this kind (sphere, cube, cone, cylinder, capsule); None: per-kind default.
    marker: Literal["sphere", "cube", "cone", "cylinder", "capsule"] | None = None
    #: Statuses that raise an operator alarm (see docs/alarms.md): any of alarm, warn,
    #: offline, suspect, stale.
    raise_on: list[str] = msgspec.field(default_factory=lambda: ["alarm"])
    #: The status must hold this long before an alarm is raised (chattering protection).
    alarm_delay_s: NonNegative = 0.0
    #: The sensor must be back to normal this long before its alarm returns.
    clear_delay_s: NonNegative = 0.0
    #: Hysteresis, in the value's unit: a sensor in alarm (warn) stays there until its
    #: value is back past the alarm (warn) threshold by this much.
    deadband: NonNegative | None = None
    #: Physical range: a reading outside it is bad data ("suspect"), never an alarm.
    valid_min: float | None = None
    valid_max: float | None = None
    #: Flat line ("suspect"): the value unchanged for this many readings, or this long.
    flat_line_count: Annotated[int, Meta(ge=2)] | None = None
    flat_line_s: Positive | None = None
    #: Rate-of-change limit ("suspect"): the value moved faster than this per second
    #: between two consecutive readings.
    max_rate_per_s: Positive | None = None


class EnuOrigin(_Base):
    lat: Latitude
    lon: Longitude
    height: float = 0.0


class SceneConfig(_Base):
    """The base scene and how sensor coordinates map into it."""

    path: str | None = None
    #: Projected CRS of the CityEngine scene, e.g. "EPSG:32618".
    crs: str | None = None
    #: CityEngine global offset (x, y, z) in the CityEngine frame (USD = CE + offset).
    global_offset: list[float] = msgspec.field(default_factory=lambda: [0.0, 0.0, 0.0])
    #: Explicit ENU origin instead of crs + offset.
    enu_origin: EnuOrigin | None = None
    #: Added to sensor heights (geoid vs ellipsoid, site datum corrections), metres.
    vertical_offset_m: float = 0.0
    #: Used when the scene has no terrain geometry, metres in the CRS vertical datum.
    ground_elevation_m: float | None = None
    object_id_attribute: str = "CityEngine:Rule:User:OBJECTID"
    marker_size_m: Positive = 3.0
    #: Root prim path of everything coptwin authors in the overlay.
    overlay_root: str = "/COP"


class PollingConfig(_Base):
    enabled: bool = True
    interval_s: Positive = 1.0
    #: Random spread of the interval, as a fraction of it.
    jitter: Fraction = 0.1


class _EventEndpoint(_Base):
    """An event source reached over the network: off, and on this machine, by default."""

    enabled: bool = False
    host: str = "127.0.0.1"


class WebhookConfig(_EventEndpoint):
    port: ListenPort = 8765
    path: str = "/events"
    #: Environment variable holding the expected bearer token (MinIO ``auth_token``).
    auth_token_env: str | None = None
    max_body_bytes: PositiveCount = 1_048_576


class MqttConfig(_EventEndpoint):
    port: Port = 1883
    topic: str = "coptwin/events"
    client_id: str = ""
    username_env: str | None = None
    password_env: str | None = None
    tls: bool = False
    ca_bundle: str | None = None


class EventsConfig(_Base):
    polling: PollingConfig = PollingConfig()
    webhook: WebhookConfig = WebhookConfig()
    mqtt: MqttConfig = MqttConfig()
    #: Only events for this bucket count (default: the storage URI's bucket).
    bucket: str | None = None


class EngineConfig(_Base):
    #: Rows with ts further than this in the future are skipped as bad.
    max_future_skew_s: NonNegative = 300.0
    overlay_path: str = "out/overlay.usda"
    #: Recent values kept per sensor for the panel's plot.
    history_per_sensor: Count = 120
    #: Time per tick the stage thread (Kit's main thread) may spend writing
    #: per-sensor detail attributes; markers and colours are always written in
    #: full, details beyond the budget follow on later (idle) ticks.
    main_thread_budget_ms: NonNegative = 4.0


class AnnotationsConfig(_Base):
    max_text_length: PositiveCount = 2000


class WebhookTarget(_Base):
    """One webhook operators are told through (``[[alarms.notify.webhooks]]``)."""

    #: Names the destination in the status line, ``coptwin doctor`` and the state file.
    name: str
    #: Environment variable holding the URL: a Slack or Teams URL embeds its key.
    url_env: str
    #: Body format: generic JSON, a Teams workflow (Adaptive Card) or a Slack incoming webhook.
    format: Literal["json", "teams", "slack"] = "json"
    #: Only these notices (empty: ``alarms.notify.events``).
    events: list[str] = []
    #: Refused when set: webhook URLs are secrets and never read from the file.
    url: str | None = None


class EmailTarget(_Base):
    """E-mail over SMTP with STARTTLS (``[[alarms.notify.email]]``)."""

    host: str
    sender: str
    to: list[str]
    name: str = "email"
    port: Port = 587
    #: STARTTLS before logging in; only a local relay may do without it.
    starttls: bool = True
    #: Environment variables holding the SMTP login (none: no login).
    username_env: str | None = None
    password_env: str | None = None
    #: PEM bundle to trust for STARTTLS (private CA); default: the system's.
    ca_bundle: str | None = None
    events: list[str] = []


class NotifyConfig(_Base):
    """Where alarm notices go and how they are delivered."""

    #: Which process sends them, so Kit sessions and a server do not both send: the
    #: headless engine (``coptwin run`` / ``coptwin serve``), Kit sessions (a site
    #: without a server, one workstation), or none.
    sender: Literal["headless", "kit", "none"] = "headless"
    webhooks: list[WebhookTarget] = []
    email: list[EmailTarget] = []
    #: Notices sent by default: raised, escalated, returned, cleared.
    events: list[str] = msgspec.field(default_factory=lambda: list(ALARM_NOTICES))
    #: Delivered and pending notices survive a restart here (relative to the config file).
    state_path: str = "out/alarm-notifications.json"
    #: Notices about events older than this when first seen are not sent (first start
    #: on an old table); escalations are always current.
    max_age_s: Positive = 3600.0
    #: Delivered event ids are remembered this long (dedup across restarts).
    keep_delivered_s: Positive = 7 * 86400.0
    #: Retry backoff: first delay, doubling up to the maximum.
    retry_initial_s: Positive = 2.0
    retry_max_s: Positive = 300.0
    #: At most this many messages per minute per destination.
    rate_per_minute: Positive = 20.0
    timeout_s: Positive = 10.0


class AlarmsConfig(_Base):
    """Operators' alarm lifecycle (see docs/alarms.md)."""

    #: Longest shelving allowed; a shelved alarm returns by itself at its ``until``.
    max_shelve_s: Positive = 7 * 86400.0
    max_reason_length: PositiveCount = 500
    #: Notify again when an alarm stays unacknowledged this long (None: never).
    escalate_after_s: Positive | None = 900.0
    #: Author of the transitions the engine detects (raise, return, repeat).
    system_author: str = "coptwin"
    #: Hours a closed alarm stays in a running engine's memory (the table keeps it);
    #: None: forever (memory grows with every alarm).
    keep_closed_hours: Positive | None = 24.0
    notify: NotifyConfig = NotifyConfig()


class WebConfig(_Base):
    """``coptwin serve``: the browser COP and the OGC API (host and port are CLI flags)."""

    #: A local PMTiles file (raster or vector) drawn under the city; None: a plain ground plane.
    basemap_pmtiles: str | None = None
    #: Environment variable holding the bearer token that lets the page write notes;
    #: None (or the variable unset): the page is read-only.
    notes_token_env: str | None = None


class Config(_Base):
    storage: StorageConfig
    tables: TablesConfig
    layers: list[LayerConfig] = []
    rules: dict[str, RuleConfig] = {}
    scene: SceneConfig = SceneConfig()
    events: EventsConfig = EventsConfig()
    engine: EngineConfig = EngineConfig()
    annotations: AnnotationsConfig = AnnotationsConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    web: WebConfig = WebConfig()
    #: Folder that relative paths were resolved against (the config file's folder).
    base_dir: str = "."
    #: The file this was read from, for messages ("<config>" when built from a dict).
    source: str = "<config>"

    def layer_for_kind(self, kind: str) -> str:
        """The layer a sensor kind belongs to when the sensors table names none."""
        for layer in self.layers:
            if kind in layer.kinds:
                return layer.name
        return kind

    def rule_for(self, kind: str) -> RuleConfig:
        return self.rules.get(kind, RuleConfig())

    def resolve_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (Path(self.base_dir) / p).resolve()

    def error(self, key: str, what: str) -> ConfigError:
        """``<file>: <key>: <what is wrong>`` about something this config names."""
        return ConfigError(f"{self.source}: {key}: {what}", key=key)

    def table_uri(self, table: str) -> str:
        """Full URI (or absolute local path) of a configured table."""
        tc: TableConfig | None = getattr(self.tables, table)
        if tc is None:
            raise self.error(f"tables.{table}", "no such table is configured")
        return join_uri(self.storage.uri, tc.path, self.base_dir)


def join_uri(base: str, path: str, base_dir: str = ".") -> str:
    """Join a table path onto the storage URI; absolute URIs/paths win."""
    if "://" in path:
        return path
    if "://" in base:
        return base.rstrip("/") + "/" + path.strip("/")
    p = Path(path).expanduser()
    if p.is_absolute():
        return str(p)
    b = Path(base).expanduser()
    if not b.is_absolute():
        b = Path(base_dir) / b
    return str((b / p).resolve())


def _dotted(msgspec_path: str) -> str:
    return msgspec_path.removeprefix("$").lstrip(".") or "(top level)"


def _check_secrets(data: Any, where: str, source: str) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{where}.{key}" if where else str(key)
            if str(key).lower() in _SECRET_KEYS:
                raise ConfigError(
                    f"{source}: {here}: credentials are never read from the config file; "
                    f"put them in environment variables and name those variables "
                    f"(e.g. storage.access_key_id_env, events.webhook.auth_token_env) "
                    f"or use storage.profile"
                )
            _check_secrets(value, here, source)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            _check_secrets(item, f"{where}[{i}]", source)


def _validate(cfg: Config, source: str) -> None:
    def fail(key: str, msg: str) -> None:
        raise ConfigError(f"{source}: {key}: {msg}")

    for table in ("readings", "sensors", "annotations", "alarms"):
        tc = getattr(cfg.tables, table)
        if tc is None:
            continue
        for canonical in tc.columns:
            if canonical not in CANONICAL_COLUMNS[table]:
                fail(
                    f"tables.{table}.columns.{canonical}",
                    f"unknown column; expected one of {', '.join(CANONICAL_COLUMNS[table])}",
                )
    names = [layer.name for layer in cfg.layers]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        fail("layers", f"duplicate layer names: {', '.join(sorted(dupes))}")
    for kind, rule in cfg.rules.items():
        for status in [*rule.states.values(), rule.idle_status]:
            if status not in STATUSES:
                fail(f"rules.{kind}.states", f"{status!r} is not one of {', '.join(STATUSES)}")
        for name in (
            "warn_low",
            "warn_high",
            "alarm_low",
            "alarm_high",
            "alarm_delay_s",
            "clear_delay_s",
            "deadband",
            "valid_min",
            "valid_max",
            "flat_line_s",
            "max_rate_per_s",
        ):
            v = getattr(rule, name)
            if v is not None and not math.isfinite(v):
                fail(f"rules.{kind}.{name}", "expected a finite number")
        lo, hi = rule.valid_min, rule.valid_max
        if lo is not None and hi is not None and lo >= hi:
            fail(f"rules.{kind}.valid_max", "must be greater than valid_min")
        kept = cfg.engine.history_per_sensor
        if rule.flat_line_count is not None and rule.flat_line_count > kept:
            fail(
                f"rules.{kind}.flat_line_count",
                f"at most engine.history_per_sensor ({kept}) readings are kept per sensor",
            )
        stale, offline = rule.stale_after_s, rule.offline_after_s
        if stale is not None and offline is not None and offline < stale:
            fail(f"rules.{kind}.offline_after_s", "must be >= stale_after_s")
    if len(cfg.scene.global_offset) != 3:
        fail("scene.global_offset", "expected three numbers [x, y, z]")
    if cfg.scene.crs is not None and not cfg.scene.crs.upper().startswith("EPSG:"):
        fail("scene.crs", "expected an EPSG code such as 'EPSG:32618'")
    _validate_alarms(cfg, fail)
    if not cfg.storage.uri:
        fail("storage.uri", "expected a local folder or an s3://bucket/prefix URI")
    if cfg.storage.uri.startswith("s3://") and len(cfg.storage.uri) <= len("s3://"):
        fail("storage.uri", "missing bucket name")


def _resolve_ca_bundles(cfg: Config) -> Config:
    """CA bundle paths relative to the config file, resolved once (they are handed to
    libraries as plain paths, far from the config)."""
    storage, mqtt = cfg.storage, cfg.events.mqtt
    if storage.ca_bundle:
        storage = msgspec.structs.replace(
            storage, ca_bundle=str(cfg.resolve_path(storage.ca_bundle))
        )
    if mqtt.ca_bundle:
        mqtt = msgspec.structs.replace(mqtt, ca_bundle=str(cfg.resolve_path(mqtt.ca_bundle)))
        events = msgspec.structs.replace(cfg.events, mqtt=mqtt)
        cfg = msgspec.structs.replace(cfg, events=events)
    return msgspec.structs.replace(cfg, storage=storage)


def _validate_alarms(cfg: Config, fail: Any) -> None:
    """The alarm keys of the rules and the ``[alarms]`` section."""
    for kind, rule in cfg.rules.items():
        for status in rule.raise_on:
            if status not in ALARM_RAISE_STATUSES:
                fail(
                    f"rules.{kind}.raise_on",
                    f"{status!r} cannot raise an alarm; expected {', '.join(ALARM_RAISE_STATUSES)}",
                )
    alarms = cfg.alarms
    if not alarms.system_author.strip():
        fail("alarms.system_author", "expected a name")
    notify = alarms.notify
    if notify.keep_delivered_s < notify.max_age_s:
        fail("alarms.notify.keep_delivered_s", "must be >= alarms.notify.max_age_s")
    where_events = [("alarms.notify.events", notify.events)]
    names: list[str] = []
    for i, hook in enumerate(notify.webhooks):
        here = f"alarms.notify.webhooks[{i}]"
        if hook.url is not None:
            fail(
                f"{here}.url",
                "webhook URLs embed their secret key and are never read from the config file; "
                "put the URL in an environment variable and name it in url_env",
            )
        if not hook.url_env.strip():
            fail(f"{here}.url_env", "name the environment variable that holds the URL")
        names.append(hook.name)
        where_events.append((f"{here}.events", hook.events))
    for i, mail in enumerate(notify.email):
        here = f"alarms.notify.email[{i}]"
        if not mail.to or not all("@" in a for a in mail.to):
            fail(f"{here}.to", "expected one or more e-mail addresses")
        if "@" not in mail.sender:
            fail(f"{here}.sender", "expected an e-mail address")
        if (mail.username_env is None) != (mail.password_env is None):
            fail(here, "give both username_env and password_env, or neither")
        names.append(mail.name)
        where_events.append((f"{here}.events", mail.events))
    dupes = sorted({n for n in names if names.count(n) > 1 or not n.strip()})
    if dupes:
        fail("alarms.notify", f"destination names must be unique and non-empty: {dupes}")
    for where, events in where_events:
        for event in events:
            if event not in ALARM_NOTICES:
                fail(where, f"{event!r} is not one of {', '.join(ALARM_NOTICES)}")


def _convert(data: Any, typ: type, source: str, prefix: str = "") -> Any:
    """msgspec.convert with errors rewritten as ``<file>: <dotted.key>: <problem>``."""
    try:
        return msgspec.convert(data, typ, strict=False)
    except msgspec.ValidationError as exc:
        msg, _, where = str(exc).partition(" - at `")
        parts = [p for p in (prefix, _dotted(where.rstrip("`")) if where else "") if p]
        if ("missing required field" in msg or "unknown field" in msg) and "`" in msg:
            parts.append(msg.split("`")[1])
            msg = "required key is missing" if "missing" in msg else "unknown key"
        key = ".".join(p for p in parts if p != "(top level)") or "(top level)"
        raise ConfigError(f"{source}: {key}: {msg}") from None


def config_from_dict(
    data: dict[str, Any], source: str = "<config>", base_dir: str | Path = "."
) -> Config:
    """Validate a parsed TOML document into a :class:`Config`."""
    _check_secrets(data, "", source)
    data = dict(data)
    data.pop("base_dir", None)
    data.pop("source", None)
    # Dict-valued sections are checked entry by entry so errors name the entry.
    rules = data.get("rules")
    if isinstance(rules, dict):
        for kind, rule in rules.items():
            _convert(rule, RuleConfig, source, f"rules.{kind}")
    cfg = _convert(data, Config, source)
    cfg = msgspec.structs.replace(cfg, base_dir=str(Path(base_dir).resolve()), source=source)
    cfg = _resolve_ca_bundles(cfg)
    _validate(cfg, source)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file; raises :class:`ConfigError`."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    cfg = config_from_dict(data, source=str(p), base_dir=p.parent)
    log.debug("loaded config %s", p)
    return cfg
