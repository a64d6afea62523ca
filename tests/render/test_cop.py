"""What the engine shows, read through its public surface for pictures and briefings."""

from __future__ import annotations

from datetime import datetime, timezone

from coptwin.render.cop import read_state, worst_of


def test_state_follows_the_engine_snapshot_layers_and_notes(cop):
    from coptwin.annotations.store import AnnotationStore

    sensor = next(iter(cop.expected))
    note = AnnotationStore.from_config(cop.config).add(f"sensor:{sensor}", "look", "ana")
    engine = cop.engine()
    try:
        state = read_state(engine)
        shown = {s.sensor_id for s in state.shown_sensors()}
        assert shown == {s.sensor_id for s in state.snapshot.sensors}
        engine.set_layer_visible("security", False)
        hidden = read_state(engine)
        assert {s.layer for s in hidden.shown_sensors()} == {
            layer.name for layer in hidden.snapshot.layers if layer.visible
        }
        assert "security" not in {s.layer for s in hidden.shown_sensors()}
        positions = {s.sensor_id: s.position for s in state.snapshot.sensors}
    finally:
        engine.close()
    assert [n.annotation_id for n in state.notes] == [note.annotation_id]
    assert state.notes[0].position == positions[sensor]
    worst = state.worst_by_building()
    bound = {s.sensor_id: s.bound_prim for s in state.snapshot.sensors}
    alarm = next(s for s, st in cop.expected.items() if st == "alarm")
    assert worst[bound[alarm]] == "alarm"
    assert set(worst) == {p for p in bound.values() if p}


def test_severity_order_and_titles(cop):
    assert worst_of("ok", "alarm") == "alarm" and worst_of("stale", "warn") == "warn"
    assert worst_of("unknown", "ok") == "ok" and worst_of("bogus", "unknown") == "unknown"
    engine = cop.engine()
    try:
        engine.set_as_of(0)
        by_version = read_state(engine)
        engine.set_as_of(datetime(2026, 11, 27, 12, 0, 1, tzinfo=timezone.utc))
        by_time = read_state(engine)
    finally:
        engine.close()
    assert by_version.title() == "COP as of readings version 0"
    assert by_version.versions_text().startswith("Delta versions: ") and "readings v0" in (
        by_version.versions_text()
    )
    assert by_time.title() == "COP as of 2026-11-27 12:00:01 UTC"
