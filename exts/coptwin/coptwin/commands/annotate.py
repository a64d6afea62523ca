"""``coptwin annotate``: reviewers' notes from the command line.

``add`` / ``reply`` / ``edit`` / ``resolve`` / ``reopen`` append events to the
annotations table (validated first: nothing is written on bad input);
``list`` shows the folded notes (``--as-of`` for time travel); ``export``
writes GeoJSON (WGS84 points, scene coordinates as properties) or CSV.

Targets are checked against the sensors table and, when ``scene.path`` is
configured, against the scene.  Text is printed with control characters
escaped so a note can never drive the terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from coptwin.commands import _common
from coptwin.commands._common import terminal_safe
from coptwin.config import Config

log = logging.getLogger(__name__)


HELP = "add, list, resolve and export reviewers' notes"


def register(p: argparse.ArgumentParser) -> None:
    verb = _common.add_verbs(p, _VERBS)
    author = _common.add_author_arg

    add = verb("add", "add a note to a sensor, a prim or a point")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--sensor", help="sensor id")
    where.add_argument("--prim", help="prim path, e.g. /World/Buildings/B12")
    where.add_argument("--point", help="x,y,z in stage coordinates (--point=-1,2,3 for negatives)")
    where.add_argument("--lonlat", help="lon,lat[,h] WGS84, e.g. --lonlat=-75.7,45.4 (needs scene)")
    where.add_argument("--target", help="encoded target: /prim, sensor:<id> or point:x,y,z")
    add.add_argument("text", help="the note (plain text)")
    author(add)

    reply = verb("reply", "reply to a note")
    reply.add_argument("annotation_id")
    reply.add_argument("text")
    author(reply)

    edit = verb("edit", "replace a note's text (history is kept)")
    edit.add_argument("annotation_id")
    edit.add_argument("text")
    author(edit)

    for name in ("resolve", "reopen"):
        v = verb(name, f"{name} a note thread")
        v.add_argument("annotation_id")
        author(v)

    ls = verb("list", "list notes")
    ls.add_argument("--status", choices=("open", "resolved", "all"), default="open")
    ls.add_argument("--target", help="only notes on this encoded target")
    _common.add_as_of_arg(ls)
    ls.add_argument("--json", action="store_true", help="print JSON lines")

    ex = verb("export", "export notes as GeoJSON or CSV")
    ex.add_argument("--status", choices=("open", "resolved", "all"), default="all")
    _common.add_as_of_arg(ex)
    _common.add_export_args(ex, ("geojson", "csv"))


# ---- context: store, sensors, scene ---------------------------------------------------
def _store(cfg: Config):
    from coptwin.annotations import AnnotationStore

    return AnnotationStore.from_config(cfg)


def _registry(cfg: Config):
    """Sensors from the sensors table (ids for checks, lon/lat for export)."""
    import polars as pl

    from coptwin.model.columns import SchemaError, to_canonical
    from coptwin.model.registry import SensorRegistry
    from coptwin.storage import delta_storage_options, redact

    uri = cfg.table_uri("sensors")
    try:
        raw = pl.read_delta(uri, storage_options=delta_storage_options(cfg.storage) or None)
    except Exception as exc:  # polars / delta-rs raise several types for a missing table
        why = redact(f"{type(exc).__name__}: {exc}")
        raise cfg.error("tables.sensors", f"cannot read {uri} to check the target: {why}") from None
    try:
        return SensorRegistry.from_frame(to_canonical(raw, cfg.tables.sensors, "sensors"), cfg)
    except SchemaError as exc:  # the table lacks required columns
        raise cfg.error(exc.key, exc.what) from exc


def _stage(cfg: Config) -> Any | None:
    """The configured scene, or None when there is none (checks are syntax-only then)."""
    from coptwin.geo.errors import SceneError
    from coptwin.geo.stage import open_stage

    if not cfg.scene.path:
        return None
    path = cfg.resolve_path(cfg.scene.path)
    if not Path(path).is_file():
        log.warning("scene %s not found; prim targets are checked for syntax only", path)
        return None
    try:
        return open_stage(path)
    except SceneError as exc:
        raise cfg.error("scene.path", exc.what) from exc


def _frame(cfg: Config, stage: Any | None):
    if stage is None:
        return None
    from coptwin.geo.errors import SceneError
    from coptwin.geo.frame import SceneFrame

    try:
        return SceneFrame.from_stage(stage, cfg.scene)
    except SceneError as exc:
        log.warning("no WGS84 positions for points and prims: %s", exc)
        return None


def _numbers(text: str, n: tuple[int, ...], what: str) -> list[float]:
    from coptwin.cli import CommandError

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in n:
        raise CommandError(f"{what}: expected {' or '.join(map(str, n))} comma-separated numbers")
    return values


# ---- verbs -------------------------------------------------------------------------------
def _add(cfg: Config, args: argparse.Namespace) -> int:
    from coptwin.annotations import Target, TargetCheck
    from coptwin.cli import CommandError

    needs_scene = args.prim or args.lonlat or (args.target or "").startswith("/")
    stage = _stage(cfg) if needs_scene else None
    if args.sensor is not None:
        target = str(Target.sensor(args.sensor))
    elif args.prim is not None:
        target = str(Target.prim(args.prim))
    elif args.point is not None:
        target = str(Target.at_point(*_numbers(args.point, (3,), "--point")))
    elif args.lonlat is not None:
        lon, lat, *h = _numbers(args.lonlat, (2, 3), "--lonlat")
        frame = _frame(cfg, stage)
        if frame is None:
            raise CommandError("--lonlat needs a georeferenced scene (scene.path, scene.crs)")
        xyz = frame.lonlat_to_stage(lon, lat, h[0] if h else 0.0)[0]
        target = str(Target.at_point(*xyz))
    else:
        target = args.target
    sensor_ids = None
    if target.startswith("sensor:"):
        sensor_ids = _registry(cfg)
    event = _store(cfg).add(target, args.text, args.author, check=TargetCheck(sensor_ids, stage))
    print(event.annotation_id)
    return 0


def _follow_up(cfg: Config, args: argparse.Namespace) -> int:
    store = _store(cfg)
    if args.verb in ("reply", "edit"):
        event = getattr(store, args.verb)(args.annotation_id, args.text, args.author)
    else:
        event = getattr(store, args.verb)(args.annotation_id, args.author)
    print(event.annotation_id)
    return 0


def _book(cfg: Config, as_of):
    store = _store(cfg)
    if as_of is None:
        return store.load()
    if isinstance(as_of, int):
        return store.load(version=as_of)
    return store.load(as_of=as_of)


def _list(cfg: Config, args: argparse.Namespace) -> int:
    from coptwin.ui.format import format_time

    book = _book(cfg, args.as_of)
    status = None if args.status == "all" else args.status
    roots = [r for r in book.roots(status) if args.target is None or r.target == args.target]
    for root in roots:
        for note in book.thread(root.annotation_id):
            if args.json:
                record = {
                    "annotation_id": note.annotation_id,
                    "parent_id": note.parent_id,
                    "status": note.status,
                    "author": note.author,
                    "created_at": note.created_at.isoformat(),
                    "target": note.target,
                    "text": note.text,
                }
                print(json.dumps(record, ensure_ascii=True))
                continue
            indent = "    " if note.parent_id else ""
            state = "" if note.parent_id else f"[{note.status}] "
            edited = " (edited)" if note.edited else ""
            print(
                f"{indent}{state}{note.annotation_id}  {format_time(note.created_at)}  "
                f"{terminal_safe(note.author)}  {terminal_safe(note.target)}{edited}"
            )
            for line in note.text.splitlines() or [""]:
                print(f"{indent}    {terminal_safe(line)}")
    if not args.json:
        print(f"{len(roots)} thread(s)", file=sys.stderr)
    return 0


def _export(cfg: Config, args: argparse.Namespace) -> int:
    from coptwin.annotations.export import Locator, csv_text, geojson_text
    from coptwin.config import ConfigError
    from coptwin.scene.pins import TargetResolver

    book = _book(cfg, args.as_of)
    stage = _stage(cfg)
    try:
        registry = _registry(cfg)
        sensors = {s.sensor_id: (s.lon, s.lat, s.alt) for s in registry}
    except ConfigError as exc:
        log.warning("%s; sensor notes get no position", exc)
        sensors = {}
    locate = Locator(_frame(cfg, stage), TargetResolver(stage), sensors)
    status = None if args.status == "all" else args.status
    if args.format == "geojson":
        text = geojson_text(book, locate, status)
    else:
        text = csv_text(book, locate, status, spreadsheet_safe=not args.raw_csv)
    if args.output is None and not text.endswith("\n"):
        text += "\n"  # a terminal prompt starts on its own line
    _common.write_export(args.output, text, args.format)
    return 0


_VERBS = {
    "add": _add,
    "reply": _follow_up,
    "edit": _follow_up,
    "resolve": _follow_up,
    "reopen": _follow_up,
    "list": _list,
    "export": _export,
}
