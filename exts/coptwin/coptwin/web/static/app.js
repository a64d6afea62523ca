// coptwin COP in the browser: state from the server push, a 3D map, the table, details, notes.
import { CopMap } from "/static/map.js";
import { SensorTable, fmtTime } from "/static/table.js";

const $ = (id) => document.getElementById(id);
const cop = { ready: false, live: true, asOf: "", s: null, updates: 0, lastUpdate: 0, selected: null, notes: [] };
window.cop = cop; // for people debugging in the console and for the browser tests

async function getJSON(url, opts) {
  const r = await fetch(url, opts);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || body.description || `${r.status} ${r.statusText}`);
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// ---------------------------------------------------------------- status, banner, layers
function showStatus(st) {
  const box = $("status");
  box.className = `status ${st.level}`;
  $("status-text").textContent = st.text;
  box.title = [st.text, st.details].filter(Boolean).join("\n");  // the headline may be cut off
  if (st.badge !== undefined) showBadge(st.badge, st.badge_level);
}

function showBadge(text, level) {
  const b = $("alarm-badge");
  b.hidden = !text;
  b.textContent = text || "";
  b.className = `badge ${level || ""}`;
}

function showBanner(text) {
  $("banner").hidden = !text;
  $("banner").textContent = text || "";
  $("asof-live").disabled = !text;
}

function renderLayers(state) {
  const list = $("layers");
  list.replaceChildren();
  for (const layer of state.layers) {
    const li = el("li");
    const box = el("input");
    box.type = "checkbox";
    box.id = `layer-${layer.name}`;
    box.checked = cop.visible.get(layer.name) ?? layer.visible;
    box.addEventListener("change", () => { cop.visible.set(layer.name, box.checked); cop.map.setLayerVisible(layer.name, box.checked); });
    const label = el("label", layer.label);
    label.htmlFor = box.id;
    const chips = el("span", undefined, "chips");
    chips.dataset.layer = layer.name;
    li.append(box, label, chips);
    list.append(li);
    cop.map.setLayerVisible(layer.name, box.checked);
  }
  renderCounts();
}

function renderCounts() {
  const s = cop.s;
  const counts = new Map();
  for (let i = 0; i < s.id.length; i++) {
    const c = counts.get(s.layer[i]) || new Array(cop.legend.length).fill(0);
    c[s.status[i]]++;
    counts.set(s.layer[i], c);
  }
  for (const chips of document.querySelectorAll("#layers .chips")) {
    const c = counts.get(chips.dataset.layer) || [];
    chips.replaceChildren();
    c.forEach((n, code) => {
      if (!n) return;
      const chip = el("span", String(n), "chip");
      chip.style.background = cop.legend[code].hex;
      chip.title = `${n} ${cop.legend[code].label}`;
      chips.append(chip);
    });
  }
}

function renderLegend() {
  $("legend").replaceChildren(...cop.legend.map((st) => {
    const li = el("li");
    const sw = el("i", undefined, "swatch");
    sw.style.background = st.hex;
    li.append(sw, el("b", st.label), ` ${st.description}`);
    return li;
  }));
}

// ---------------------------------------------------------------- state and updates
function applyState(state) {
  cop.s = state.sensors;
  cop.seq = state.seq;
  cop.index = new Map(state.sensors.id.map((id, i) => [id, i]));
  cop.map.setLayers(state.layers);
  cop.map.setSensors(cop.s);
  renderLayers(state);
  cop.table.setSensors(cop.s);
  showStatus(state.status);
  showBanner(state.banner);
  if (cop.alarms) cop.map.setAlarmRings(cop.s, cop.alarms.alarms);
  if (cop.selected !== null) select(cop.index.get(cop.selectedId) ?? null, false);
}

function applyUpdate(u) {
  const s = cop.s;
  u.i.forEach((i, k) => { s.status[i] = u.s[k]; s.value[i] = u.v[k]; s.text[i] = u.x[k]; s.ts[i] = u.t[k]; s.quantity[i] = u.q[k]; s.unit[i] = u.u[k]; });
  cop.map.setStatuses(s, u.i);
  if (u.moved) {
    u.moved.i.forEach((i, k) => { s.lon[i] = u.moved.lon[k]; s.lat[i] = u.moved.lat[k]; s.alt[i] = u.moved.alt[k]; });
    cop.map.moveSensors(s, u.moved.i);
  }
  cop.map.tintBuildings(s, u.i);
  cop.seq = u.seq;
  cop.updates++;
  cop.lastUpdate = performance.now();
  renderCounts();
  cop.table.changed();
  if (cop.selected !== null && (u.i.includes(cop.selected) || u.moved?.i.includes(cop.selected))) {
    cop.map.select(s, cop.selected);
    showDetail(cop.selected);
  }
}

function connect() {
  cop.events?.close();
  const es = new EventSource("/api/events");
  cop.events = es;
  es.addEventListener("state", (e) => {
    if (!cop.live) return;
    applyState(JSON.parse(e.data));
    if (!cop.ready) cop.map.map.once("idle", () => { cop.ready = true; });
  });
  es.addEventListener("update", (e) => { if (cop.live) applyUpdate(JSON.parse(e.data)); });
  es.addEventListener("status", (e) => { if (cop.live) showStatus(JSON.parse(e.data)); });
  es.addEventListener("notes", () => loadNotes());
  es.addEventListener("alarms", () => { if (cop.live) loadAlarms(); });
  es.onerror = () => { if (cop.live) showStatus({ level: "error", text: "Server unreachable; reconnecting…", details: "" }); };
}

// ---------------------------------------------------------------- time travel
async function showAsOf(text) {
  const state = await getJSON(`/api/asof?at=${encodeURIComponent(text)}`);
  cop.live = false;
  cop.asOf = text;
  applyState(state);
  loadAlarms();
}

function goLive() {
  cop.live = true;
  cop.asOf = "";
  showBanner("");
  connect();
  loadAlarms();
}

// ---------------------------------------------------------------- selection and details
function select(i, fly = true) {
  cop.selected = i;
  cop.selectedId = i === null ? null : cop.s.id[i];
  cop.selectedBuilding = null;
  cop.pickedPoint = null;
  cop.table.select(i);
  cop.map.select(cop.s, i);
  noteTarget();
  if (i === null) return;
  if (fly && cop.s.lon[i] !== null) cop.map.flyTo(cop.s.lon[i], cop.s.lat[i]);
  showDetail(i);
}

async function showDetail(i) {
  const id = cop.s.id[i];
  const q = cop.live ? "" : `?as_of=${encodeURIComponent(cop.asOf)}`;
  let d;
  try { d = await getJSON(`/api/sensors/${encodeURIComponent(id)}${q}`); } catch (err) { $("detail-title").textContent = `Details: ${err.message}`; return; }
  if (cop.selectedId !== id) return;
  $("detail-title").textContent = d.name || d.sensor_id;
  $("detail-empty").hidden = true;
  $("detail-fields").replaceChildren(...d.fields.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  plot(d.history, d.caption, d.unit);
  cop.detail = d;
}

// The recent history as an SVG polyline with its range written beside it.
function plot(h, caption, unit) {
  const svg = $("plot");
  svg.replaceChildren();
  $("detail-plot").hidden = false;
  $("plot-caption").textContent = caption;
  const pts = h.t.map((t, k) => [t, h.v[k]]).filter((p) => p[1] !== null);
  if (!pts.length) return;
  const W = 320, H = 120, L = 44, R = 6, T = 8, B = 18;
  const t0 = pts[0][0], t1 = pts[pts.length - 1][0];
  let lo = Math.min(...pts.map((p) => p[1])), hi = Math.max(...pts.map((p) => p[1]));
  if (lo === hi) { lo -= 1; hi += 1; }
  const x = (t) => L + ((t - t0) / Math.max(t1 - t0, 1)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const ns = "http://www.w3.org/2000/svg";
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.append(e); };
  add("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#bbb" });
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#bbb" });
  add("text", { x: L - 3, y: T + 8, "text-anchor": "end", "font-size": 9, fill: "#555" }, `${+hi.toPrecision(4)}`);
  add("text", { x: L - 3, y: H - B, "text-anchor": "end", "font-size": 9, fill: "#555" }, `${+lo.toPrecision(4)}`);
  add("text", { x: L, y: H - 5, "font-size": 9, fill: "#555" }, fmtTime(t0).slice(11));
  add("text", { x: W - R, y: H - 5, "text-anchor": "end", "font-size": 9, fill: "#555" }, `${fmtTime(t1).slice(11)} UTC${unit ? " · " + unit : ""}`);
  add("polyline", { points: pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "), fill: "none", stroke: "#0072B2", "stroke-width": 1.5 });
}

function onPick(hit) {
  if (hit.sensor !== undefined) return select(hit.sensor, false);
  if (cop.picking && hit.lngLat) {
    cop.picking = false;
    select(null);
    cop.pickedPoint = { lon: hit.lngLat.lng, lat: hit.lngLat.lat, alt: 0 };
    return noteTarget();
  }
  if (hit.building !== null && hit.building !== undefined) {
    select(null);
    const f = cop.scene.buildings.features.find((b) => b.id === hit.building);
    cop.selectedBuilding = f ? f.properties.path : null;
    noteTarget();
  }
}

// ---------------------------------------------------------------- notes
async function loadNotes() {
  if (!cop.scene.annotations) return;
  const filter = $("notes-filter").value;
  let data;
  try { data = await getJSON(`/api/notes?status=${filter === "all" ? "all" : filter}`); } catch { return; }
  cop.notes = data.notes;
  cop.map.setNotes(data.notes);
  $("notes-count").textContent = String(data.notes.filter((n) => !n.parent_id).length);
  $("note-form").hidden = !data.writable;
  $("notes").replaceChildren(...data.notes.map((n) => {
    const li = el("li", undefined, n.parent_id ? "reply" : "");
    li.append(el("div", `${n.parent_id ? "↳ " : `[${n.status}] `}${n.author} · ${(n.created_at || "").replace("T", " ").slice(0, 16)} · ${n.target}`, "meta"));
    li.append(el("div", n.text, "text"));
    if (data.writable && !n.parent_id) {
      const act = n.status === "open" ? "resolve" : "reopen";
      const b1 = el("button", act);
      b1.addEventListener("click", () => writeNote(`/api/notes/${encodeURIComponent(n.annotation_id)}/${act}`, {}));
      const b2 = el("button", "reply");
      b2.addEventListener("click", () => {
        const text = $("note-text").value.trim();
        if (!text) { $("note-error").textContent = "write the reply in the note field first"; return; }
        writeNote(`/api/notes/${encodeURIComponent(n.annotation_id)}/reply`, { text });
      });
      li.append(b1, b2);
    }
    return li;
  }));
}

function noteTarget() {
  const t = $("note-target");
  if (cop.selected !== null && cop.selected !== undefined) t.textContent = `Target: sensor ${cop.s.id[cop.selected]}`;
  else if (cop.selectedBuilding) t.textContent = `Target: building ${cop.selectedBuilding}`;
  else if (cop.pickedPoint) t.textContent = `Target: point ${cop.pickedPoint.lon.toFixed(6)}, ${cop.pickedPoint.lat.toFixed(6)}`;
  else t.textContent = "Target: select a sensor, a building or click “Pick point”.";
}

async function writeNote(url, body) {
  const token = $("note-token").value;
  sessionStorage.setItem("coptwin-author", $("note-author").value);
  $("note-error").textContent = "";
  try {
    await getJSON(url, { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ author: $("note-author").value, ...body }) });
    $("note-text").value = "";
    loadNotes();
  } catch (err) { $("note-error").textContent = err.message; }
}

function addNote(e) {
  e.preventDefault();
  const body = { text: $("note-text").value };
  if (cop.selected !== null && cop.selected !== undefined) body.sensor = cop.s.id[cop.selected];
  else if (cop.selectedBuilding) body.prim = cop.selectedBuilding;
  else if (cop.pickedPoint) Object.assign(body, cop.pickedPoint);
  writeNote("/api/notes", body);
}

// ---------------------------------------------------------------- alarms
// The engine's open alarms (active first, oldest unacknowledged first), in the words the
// Kit panel uses; Ack, Shelve… and Unshelve need the bearer token, like notes.
async function loadAlarms() {
  if (!cop.scene.alarms) return;
  const q = cop.live ? "" : `?as_of=${encodeURIComponent(cop.asOf)}`;
  let data;
  try { data = await getJSON(`/api/alarms${q}`); } catch (err) { $("alarm-error").textContent = err.message; return; }
  cop.alarms = data;
  $("alarms-section").hidden = false;
  $("alarms-count").textContent = data.badge || "none open";
  showBadge(data.badge, data.badge_level);
  $("alarm-sign").hidden = !data.writable;
  cop.map.setAlarmRings(cop.s, data.alarms);
  $("alarms").replaceChildren(...data.alarms.map(alarmItem));
  if (cop.shelving && !data.alarms.some((a) => a.alarm_id === cop.shelving.alarm_id && a.can_shelve)) closeShelve();
}

function alarmItem(a) {
  const li = el("li", undefined, a.unacknowledged ? "unack" : "");
  li.dataset.alarm = a.alarm_id;
  li.append(el("div", a.label, "state"), el("div", `${a.sensor} · raised ${a.raised}`, "meta"), el("div", a.reason, "text"));
  if (a.detail) li.append(el("div", a.detail, "meta"));
  li.addEventListener("click", (e) => { if (e.target.tagName !== "BUTTON" && a.i !== null) select(a.i); });
  if (!cop.alarms.writable) return li;
  const act = (label, fn) => { const b = el("button", label); b.type = "button"; b.addEventListener("click", fn); li.append(b); };
  if (a.can_ack) act("Ack", () => writeAlarm(a, "ack", {}));
  if (a.can_shelve) act("Shelve…", () => openShelve(a));
  if (a.can_unshelve) act("Unshelve", () => writeAlarm(a, "unshelve", {}));
  return li;
}

async function writeAlarm(a, action, body) {
  sessionStorage.setItem("coptwin-author", $("alarm-author").value);
  $("alarm-error").textContent = "";
  try {
    await getJSON(`/api/alarms/${encodeURIComponent(a.alarm_id)}/${action}`, { method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${$("alarm-token").value}` },
      body: JSON.stringify({ author: $("alarm-author").value, ...body }) });
    return true;
  } catch (err) { $("alarm-error").textContent = err.message; return false; }
}

function openShelve(a) {
  cop.shelving = a;
  $("alarm-shelve").hidden = false;
  $("alarm-shelve-target").textContent = `Shelve the alarm of ${a.sensor} (raised ${a.raised}): why, and until when?`;
  $("alarm-shelve-reason").focus();
}

function closeShelve() {
  cop.shelving = null;
  $("alarm-shelve").hidden = true;
}

async function shelve(e) {
  e.preventDefault();
  if (!cop.shelving) return;
  const ok = await writeAlarm(cop.shelving, "shelve", { reason: $("alarm-shelve-reason").value, until: $("alarm-shelve-until").value });
  if (ok) { $("alarm-shelve-reason").value = ""; closeShelve(); }
}

// ---------------------------------------------------------------- start
async function main() {
  cop.scene = await getJSON("/api/scene");
  cop.legend = cop.scene.legend;
  cop.visible = new Map();
  renderLegend();
  cop.map = new CopMap($("map"), cop.scene, cop.legend, onPick);
  cop.table = new SensorTable(cop.legend, (i) => select(i));
  await cop.map.ready;
  connect();
  $("asof-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("asof-input").value.trim();
    if (text) showAsOf(text).catch((err) => showStatus({ level: "error", text: `As of ${text}: ${err.message}`, details: "" }));
  });
  $("asof-live").addEventListener("click", goLive);
  $("notes-filter").addEventListener("change", loadNotes);
  $("note-form").addEventListener("submit", addNote);
  $("note-pick").addEventListener("click", () => { cop.picking = true; $("note-target").textContent = "Click the map where the note goes…"; });
  $("note-author").value = sessionStorage.getItem("coptwin-author") || "";
  $("alarm-author").value = $("note-author").value;
  $("alarm-shelve").addEventListener("submit", shelve);
  $("alarm-shelve-cancel").addEventListener("click", closeShelve);
  for (const [a, b] of [["note-token", "alarm-token"], ["alarm-token", "note-token"], ["note-author", "alarm-author"], ["alarm-author", "note-author"]]) {
    $(a).addEventListener("input", () => { $(b).value = $(a).value; }); // one name and token for both
  }
  loadNotes();
  loadAlarms();
}

main().catch((err) => showStatus({ level: "error", text: `The page could not start: ${err.message}`, details: "" }));
