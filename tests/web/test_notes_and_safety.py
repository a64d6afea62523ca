"""Notes from the page (token-guarded, CLI validation), read-only by default, no secret leaks."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from coptwin.cli import main
from tests.support.wait import wait_until

from .conftest import SECRETS, TOKEN_ENV, Server

TOKEN = SECRETS[TOKEN_ENV]


def post(server: Server, path: str, body: dict, token: str | None = TOKEN) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        server.url.rstrip("/") + path, json.dumps(body).encode(), headers, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def notes(server: Server) -> dict:
    return json.loads(server.get("/api/notes?status=all"))


def test_writes_need_the_bearer_token(server, demo):
    sid = demo.sensors["sensor_id"][0]
    body = {"sensor": sid, "text": "check the enclosure", "author": "ana"}
    assert post(server, "/api/notes", body, token=None)[0] == 401
    assert post(server, "/api/notes", body, token="not-the-token")[0] == 401
    assert json.loads(server.get("/api/scene"))["notes_writable"] is True


def test_add_reply_resolve_through_the_cli_validation(server, demo, capsys):
    sid = demo.sensors["sensor_id"][3]
    status, created = post(
        server, "/api/notes", {"sensor": sid, "text": "loose cable", "author": "ana"}
    )
    assert status == 201, created
    nid = created["annotation_id"]
    status, _ = post(server, f"/api/notes/{nid}/reply", {"text": "fixed", "author": "bo"})
    assert status == 200
    status, _ = post(server, f"/api/notes/{nid}/resolve", {"author": "bo"})
    assert status == 200
    # The routes write the table and ask the engine to read it again: the page's list
    # follows at the engine's next tick.
    got: dict = {}

    def resolved() -> bool:
        got.clear()
        got.update({n["annotation_id"]: n for n in notes(server)["notes"]})
        return nid in got and got[nid]["status"] == "resolved"

    wait_until(resolved, what="the resolved note in the page's list")
    assert got[nid]["target"] == f"sensor:{sid}"
    assert any(n["parent_id"] == nid and n["text"] == "fixed" for n in got.values())
    assert got[nid]["lon"] is not None and got[nid]["alt"] is not None
    # Resolving twice is refused with the store's own words, as the CLI refuses it.
    status, err = post(server, f"/api/notes/{nid}/resolve", {"author": "bo"})
    code = main(["annotate", "resolve", "--config", str(demo.config_path), nid, "--author", "bo"])
    cli_says = capsys.readouterr().err
    assert status == 400 and code == 2 and err["error"] in cli_says


@pytest.mark.parametrize(
    ("body", "cli_args"),
    [
        (
            {"sensor": "NO-SUCH", "text": "x", "author": "ana"},
            ["--sensor", "NO-SUCH", "x", "--author", "ana"],
        ),
        (
            {"sensor": "TEM-0001", "text": "x", "author": ""},
            ["--sensor", "TEM-0001", "x", "--author", ""],
        ),
        (
            {"sensor": "TEM-0001", "text": "   ", "author": "ana"},
            ["--sensor", "TEM-0001", "   ", "--author", "ana"],
        ),
        (
            {"prim": "/nowhere/at_all", "text": "x", "author": "ana"},
            ["--prim", "/nowhere/at_all", "x", "--author", "ana"],
        ),
    ],
)
def test_bad_notes_are_refused_like_the_cli_refuses_them(server, demo, capsys, body, cli_args):
    before = len(notes(server)["notes"])
    status, err = post(server, "/api/notes", body)
    code = main(["annotate", "add", "--config", str(demo.config_path), *cli_args])
    cli_says = capsys.readouterr().err
    assert status == 400 and code == 2
    assert err["error"] in cli_says, (err, cli_says)
    assert len(notes(server)["notes"]) == before, "a refused note changed the table"


def test_notes_on_a_building_and_on_a_picked_point(server, demo):
    scene = json.loads(server.get("/api/scene"))
    feature = scene["buildings"]["features"][0]
    prim = feature["properties"]["path"]
    status, _ = post(server, "/api/notes", {"prim": prim, "text": "roof access", "author": "cy"})
    assert status == 201
    lon, lat = feature["geometry"]["coordinates"][0][0]
    status, made = post(
        server, "/api/notes", {"lon": lon, "lat": lat, "alt": 2.0, "text": "puddle", "author": "cy"}
    )
    assert status == 201
    got: dict = {}

    def listed() -> bool:  # the engine reads the notes table again at its next tick
        got.clear()
        got.update({n["annotation_id"]: n for n in notes(server)["notes"]})
        return made["annotation_id"] in got and any(n["target"] == prim for n in got.values())

    wait_until(listed, what="both notes in the page's list")
    point = got[made["annotation_id"]]
    assert point["target"].startswith("point:")
    assert abs(point["lon"] - lon) < 1e-6 and abs(point["lat"] - lat) < 1e-6
    assert abs(point["alt"] - 2.0) < 0.01
    assert any(n["target"] == prim for n in got.values())


@pytest.fixture(scope="module")
def read_only_server(tmp_path_factory):
    from .conftest import make_demo

    demo = make_demo(tmp_path_factory.mktemp("readonly"))
    srv = Server(demo.config_path, SECRETS)
    try:
        yield srv, demo
    finally:
        srv.stop()


def test_the_page_is_read_only_without_a_configured_token(read_only_server):
    srv, demo = read_only_server
    sid = demo.sensors["sensor_id"][0]
    status, err = post(srv, "/api/notes", {"sensor": sid, "text": "x", "author": "a"})
    assert status == 403 and "read-only" in err["error"]
    assert json.loads(srv.get("/api/scene"))["notes_writable"] is False
    assert notes(srv)["writable"] is False


def _everything(server: Server, demo) -> list[bytes]:  # noqa: ANN001
    sid = demo.sensors["sensor_id"][0]
    ok_paths = [
        "/",
        "/static/app.js",
        "/static/map.js",
        "/api/scene",
        f"/api/sensors/{sid}",
        f"/api/sensors/{sid}?as_of=1",
        "/api/asof?at=1",
        "/api/notes?status=all",
        "/ogc",
        "/ogc/api",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/sensors",
        "/ogc/collections/sensors/items?limit=10000",
        "/ogc/collections/buildings/items?limit=10000",
        "/ogc/collections/notes/items?limit=10000",
    ]
    bodies = [server.get(p) for p in ok_paths]
    for bad in (
        "/api/sensors/NOPE",
        "/api/asof?at=bogus",
        "/api/asof?at=999999",
        "/nothing",
        "/ogc/collections/x",
        "/basemap.pmtiles",
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            server.get(bad)
        bodies.append(err.value.read() + str(err.value.headers).encode())
    for token in (None, "wrong", TOKEN):
        status, body = post(
            server, "/api/notes", {"sensor": "NOPE", "text": "x", "author": "a"}, token
        )
        bodies.append(json.dumps(body).encode())
    with urllib.request.urlopen(server.url + "api/events", timeout=30) as resp:
        bodies.append(resp.read1(1 << 20) + str(resp.headers).encode())
    return bodies


def test_no_credential_ever_reaches_the_browser(server, demo):
    bodies = _everything(server, demo)
    assert len(bodies) > 20
    for secret in SECRETS.values():
        for body in bodies:
            assert secret.encode() not in body
        assert secret not in "".join(server.output), "a secret reached the server's log"
