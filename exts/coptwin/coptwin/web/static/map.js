// The 3D view: terrain cells, buildings and sensor markers as MapLibre fill-extrusions.
// Heights come from the server in metres above the page datum (the scene's lowest ground),
// so markers sit where the USD overlay puts them: roof sensors on roofs, ground ones on the ground.
import * as maplibregl from "/static/vendor/maplibre-gl/maplibre-gl.mjs";

const BUILDING = "#cfcac1";
// Alarm rings (radii in marker sizes from the marker's centre).
export const RING_ACTIVE = "#1a1a1a", RING_RETURNED = "#8a8f98", RING_INNER = 0.85, RING_OUTER = 1.3;
const TERRAIN = "#dedbd2";

function mix(hex, other, t) {
  const a = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const b = [1, 3, 5].map((i) => parseInt(other.slice(i, i + 2), 16));
  return "#" + a.map((v, k) => Math.round(v * (1 - t) + b[k] * t).toString(16).padStart(2, "0")).join("");
}

// A square of side `size` metres centred on lon/lat.
export function square(lon, lat, size) {
  const dy = size / 2 / 110540;
  const dx = size / 2 / (111320 * Math.cos((lat * Math.PI) / 180));
  return [[[lon - dx, lat - dy], [lon + dx, lat - dy], [lon + dx, lat + dy], [lon - dx, lat + dy], [lon - dx, lat - dy]]];
}

// A closed circle of radius r metres around lon/lat (24 points).
export function ring(lon, lat, r) {
  const pts = [];
  for (let k = 0; k <= 24; k++) {
    const t = (2 * Math.PI * k) / 24;
    pts.push([lon + (r * Math.cos(t)) / (111320 * Math.cos((lat * Math.PI) / 180)), lat + (r * Math.sin(t)) / 110540]);
  }
  return pts;
}

// The terrain grid -> one polygon per run of equal cells in a row.
function terrainFeatures(t) {
  const feats = [];
  if (!t) return feats;
  const at = (i, j) => [
    t.sw[0] + ((t.se[0] - t.sw[0]) * i) / t.nx + ((t.nw[0] - t.sw[0]) * j) / t.ny,
    t.sw[1] + ((t.se[1] - t.sw[1]) * i) / t.nx + ((t.nw[1] - t.sw[1]) * j) / t.ny,
  ];
  for (let j = 0; j < t.ny; j++) {
    let i = 0;
    while (i < t.nx) {
      const h = t.h[j * t.nx + i];
      if (h === null) { i++; continue; }
      let k = i + 1;
      while (k < t.nx && t.h[j * t.nx + k] === h) k++;
      feats.push({ type: "Feature", properties: { top: h * t.step },
        geometry: { type: "Polygon", coordinates: [[at(i, j), at(k, j), at(k, j + 1), at(i, j + 1), at(i, j)]] } });
      i = k;
    }
  }
  return feats;
}

export class CopMap {
  constructor(container, scene, legend, onPick) {
    this.scene = scene;
    this.legend = legend;
    this.minSize = Math.max(scene.marker_size_m, 1);
    this.size = this.minSize;
    this.layers = [];
    this.onPick = onPick;
    this.map = new maplibregl.Map({
      container,
      style: { version: 8, sources: {}, layers: [{ id: "ground", type: "background", paint: { "background-color": "#ece9e2" } }] },
      bounds: scene.bounds,
      fitBoundsOptions: { padding: 20, pitch: 55, bearing: -20 },
      pitch: 55,
      bearing: -20,
      maxPitch: 80,
      attributionControl: false,
      canvasContextAttributes: { preserveDrawingBuffer: true },
    });
    this.map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), "top-right");
    this.map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    this.ready = new Promise((resolve) => this.map.on("load", () => { this._setup(); resolve(); }));
  }

  statusColor() {
    const unknown = this.legend.findIndex((s) => s.name === "unknown");
    const expr = ["match", ["coalesce", ["feature-state", "s"], unknown]];
    this.legend.forEach((s, i) => expr.push(i, s.hex));
    expr.push("#999999");
    return expr;
  }

  _setup() {
    const m = this.map;
    if (this.scene.basemap) this._basemap();
    m.addSource("terrain", { type: "geojson", data: { type: "FeatureCollection", features: terrainFeatures(this.scene.terrain) } });
    m.addLayer({ id: "terrain", type: "fill-extrusion", source: "terrain", paint: {
      "fill-extrusion-color": TERRAIN, "fill-extrusion-height": ["get", "top"], "fill-extrusion-base": 0,
      "fill-extrusion-vertical-gradient": false,
      "fill-extrusion-opacity": this.scene.basemap ? 0.55 : 1 } });
    m.addSource("buildings", { type: "geojson", data: this.scene.buildings });
    const tint = ["match", ["coalesce", ["feature-state", "s"], -1]];
    this.legend.forEach((s, i) => { if (s.name !== "unknown" && s.name !== "ok") tint.push(i, mix(s.hex, BUILDING, 0.35)); });
    tint.push(BUILDING);
    m.addLayer({ id: "buildings", type: "fill-extrusion", source: "buildings", paint: {
      "fill-extrusion-color": tint, "fill-extrusion-base": ["get", "base"], "fill-extrusion-height": ["get", "top"],
      "fill-extrusion-opacity": 0.92 } });
    m.addSource("markers", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    m.addSource("notes", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    m.addLayer({ id: "notes", type: "fill-extrusion", source: "notes", paint: {
      "fill-extrusion-color": ["case", ["==", ["get", "status"], "resolved"], "#8a8f98", "#0072B2"],
      "fill-extrusion-base": ["get", "base"], "fill-extrusion-height": ["get", "top"] } });
    // Rings around markers whose alarm awaits acknowledgement; they pulse until acknowledged.
    m.addSource("rings", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    m.addLayer({ id: "rings", type: "fill-extrusion", source: "rings", paint: {
      "fill-extrusion-color": ["get", "color"], "fill-extrusion-base": ["get", "base"],
      "fill-extrusion-height": ["get", "top"], "fill-extrusion-opacity": 0.95 } });
    m.addSource("selected", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    m.addLayer({ id: "selected", type: "fill-extrusion", source: "selected", paint: {
      "fill-extrusion-color": "#111111", "fill-extrusion-opacity": 0.35,
      "fill-extrusion-base": ["get", "base"], "fill-extrusion-height": ["get", "top"] } });
    m.on("click", (e) => this._click(e));
    m.on("zoomend", () => this._resize());
    this.size = this._wantedSize();
  }

  // Markers keep at least ~7 px across when zoomed out (never smaller than marker_size_m).
  _wantedSize() {
    const lat = this.map.getCenter().lat;
    const mpp = (40075016.7 * Math.cos((lat * Math.PI) / 180)) / (512 * 2 ** this.map.getZoom());
    const want = Math.max(this.minSize, 7 * mpp);
    return this.minSize * 1.5 ** Math.ceil(Math.log(want / this.minSize) / Math.log(1.5) - 1e-9);
  }

  _resize() {
    const size = this._wantedSize();
    if (Math.abs(size - this.size) < 1e-6 || !this.s) return;
    this.size = size;
    this._setData(this.s);
    if (this.selected !== undefined) this.select(this.s, this.selected);
    if (this.alarms) this.setAlarmRings(this.s, this.alarms);
  }

  async _basemap() {
    // A local PMTiles archive (raster or vector), read with HTTP range requests from this server.
    await new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/vendor/pmtiles/pmtiles.js";
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
    const pm = window.pmtiles;
    const protocol = new pm.Protocol();
    maplibregl.addProtocol("pmtiles", protocol.tile);
    const url = new URL(this.scene.basemap, location.href).href;
    const archive = new pm.PMTiles(url);
    protocol.add(archive);
    const header = await archive.getHeader();
    const src = `pmtiles://${url}`;
    if (header.tileType === pm.TileType.Mvt) {
      const meta = await archive.getMetadata();
      this.map.addSource("basemap", { type: "vector", url: src });
      for (const vl of meta.vector_layers || []) {
        this.map.addLayer({ id: `bm-fill-${vl.id}`, type: "fill", source: "basemap", "source-layer": vl.id,
          filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": "#dcd8cf", "fill-outline-color": "#c4c0b6" } }, "terrain");
        this.map.addLayer({ id: `bm-line-${vl.id}`, type: "line", source: "basemap", "source-layer": vl.id,
          filter: ["==", ["geometry-type"], "LineString"], paint: { "line-color": "#b9b4aa", "line-width": 1 } }, "terrain");
      }
    } else {
      this.map.addSource("basemap", { type: "raster", url: src, tileSize: 256 });
      this.map.addLayer({ id: "basemap", type: "raster", source: "basemap" }, "terrain");
    }
  }

  // The sensor layers: one map layer per COP layer so a toggle hides exactly its markers.
  setLayers(layers) {
    const m = this.map;
    for (const old of this.layers) if (m.getLayer(`m-${old}`)) m.removeLayer(`m-${old}`);
    this.layers = layers.map((l) => l.name);
    for (const l of layers) {
      m.addLayer({ id: `m-${l.name}`, type: "fill-extrusion", source: "markers",
        filter: ["==", ["get", "layer"], l.name],
        layout: { visibility: l.visible ? "visible" : "none" },
        paint: { "fill-extrusion-color": this.statusColor(), "fill-extrusion-base": ["get", "base"],
          "fill-extrusion-height": ["get", "top"] } }, "notes");
    }
  }

  setLayerVisible(name, visible) {
    if (this.map.getLayer(`m-${name}`)) this.map.setLayoutProperty(`m-${name}`, "visibility", visible ? "visible" : "none");
  }

  // Sensors at the same spot (a roof logger and an air-quality sensor on one roof) are
  // stacked, the first one on the surface, so none hides another.
  _stack(s) {
    const seen = new Map();
    this.stack = s.id.map((_, i) => {
      const key = `${s.lon[i]},${s.lat[i]},${s.alt[i]}`;
      const k = seen.get(key) || 0;
      seen.set(key, k + 1);
      return k;
    });
  }

  _marker(i, s) {
    if (s.lon[i] === null || s.lat[i] === null) return null;
    const alt = (s.alt[i] ?? 0) + (this.stack?.[i] || 0) * this.size;
    return { type: "Feature", id: i, properties: { layer: s.layer[i], base: alt, top: alt + this.size },
      geometry: { type: "Polygon", coordinates: square(s.lon[i], s.lat[i], this.size) } };
  }

  // A whole state: every marker, its status, and the building tints.
  setSensors(s) {
    this.s = s;
    this.map.removeFeatureState({ source: "markers" });
    this._setData(s);
    for (let i = 0; i < s.id.length; i++) this.map.setFeatureState({ source: "markers", id: i }, { s: s.status[i] });
    this.tintBuildings(s, null);
  }

  _setData(s) {
    this._stack(s);
    const feats = [];
    for (let i = 0; i < s.id.length; i++) { const f = this._marker(i, s); if (f) feats.push(f); }
    this.map.getSource("markers").setData({ type: "FeatureCollection", features: feats });
  }

  setStatuses(s, rows) {
    for (const i of rows) this.map.setFeatureState({ source: "markers", id: i }, { s: s.status[i] });
  }

  moveSensors(s, rows) {
    const update = [];
    for (const i of rows) { const f = this._marker(i, s); if (f) update.push({ id: i, newGeometry: f.geometry,
      addOrUpdateProperties: [{ key: "base", value: f.properties.base }, { key: "top", value: f.properties.top }] }); }
    if (update.length) this.map.getSource("markers").updateData({ update });
  }

  // Bound buildings take the worst status of their sensors (codes are in severity order).
  tintBuildings(s, rows) {
    const worst = new Map();
    const bs = rows ? new Set(rows.map((i) => s.b[i]).filter((b) => b >= 0)) : null;
    for (let i = 0; i < s.id.length; i++) {
      const b = s.b[i];
      if (b < 0 || (bs && !bs.has(b))) continue;
      worst.set(b, Math.min(worst.get(b) ?? 99, s.status[i]));
    }
    for (const [b, code] of worst) this.map.setFeatureState({ source: "buildings", id: b }, { s: code });
  }

  setNotes(notes) {
    const size = this.size * 0.6;
    const feats = notes.filter((n) => n.lon !== null && n.alt !== null && !n.parent_id).map((n) => ({
      type: "Feature", properties: { status: n.status, base: n.alt + this.size * 1.5, top: n.alt + this.size * 4 },
      geometry: { type: "Polygon", coordinates: square(n.lon, n.lat, size) } }));
    this.map.getSource("notes")?.setData({ type: "FeatureCollection", features: feats });
  }

  // One ring per unacknowledged alarm: an annulus around the marker at its mid height,
  // near-black while the condition is active and grey once it returned (the marker's own
  // colour is the status; on a light map and status-tinted roofs a dark ring stands out).
  setAlarmRings(s, alarms) {
    this.alarms = alarms;
    const feats = [];
    for (const a of alarms || []) {
      if (!a.unacknowledged || a.i === null || a.i === undefined || !s || s.lon[a.i] === null) continue;
      const f = this._marker(a.i, s);
      if (!f) continue;
      const color = a.state === "unacknowledged-active" ? RING_ACTIVE : RING_RETURNED;
      const outer = ring(s.lon[a.i], s.lat[a.i], this.size * RING_OUTER);
      const inner = ring(s.lon[a.i], s.lat[a.i], this.size * RING_INNER).reverse();
      feats.push({ type: "Feature", properties: { alarm: a.alarm_id, color, base: f.properties.base + this.size * 0.3,
        top: f.properties.base + this.size * 0.7 }, geometry: { type: "Polygon", coordinates: [outer, inner] } });
    }
    this.map.getSource("rings")?.setData({ type: "FeatureCollection", features: feats });
    clearInterval(this.pulse);
    if (feats.length) {
      let on = true;
      this.pulse = setInterval(() => { on = !on; this.map.setPaintProperty("rings", "fill-extrusion-opacity", on ? 0.95 : 0.3); }, 700);
    }
  }

  select(s, i) {
    this.selected = i;
    const f = i === null ? null : this._marker(i, s);
    if (f) { f.properties.base -= 0.5; f.properties.top += 0.5; f.geometry.coordinates = square(s.lon[i], s.lat[i], this.size * 1.8); }
    this.map.getSource("selected")?.setData({ type: "FeatureCollection", features: f ? [f] : [] });
  }

  flyTo(lon, lat, zoom) { this.map.flyTo({ center: [lon, lat], zoom: Math.max(this.map.getZoom(), zoom || 17), speed: 2 }); }

  _click(e) {
    const layers = this.layers.map((n) => `m-${n}`).filter((id) => this.map.getLayer(id));
    const hits = this.map.queryRenderedFeatures(e.point, { layers: [...layers, "buildings"] });
    const marker = hits.find((h) => h.layer.id.startsWith("m-"));
    if (marker) return this.onPick({ sensor: marker.id });
    const building = hits.find((h) => h.layer.id === "buildings");
    this.onPick({ building: building ? building.properties.b : null, lngLat: e.lngLat });
  }
}
