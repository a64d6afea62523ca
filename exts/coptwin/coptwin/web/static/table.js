// The sensors table: search, sort, filter by status; only the visible rows are in the DOM,
// so 10,000 sensors scroll smoothly and an update re-draws a screenful, not the table.
const ROW = 22;

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "—";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

// Time of day (UTC) for readings of the last 24 hours, the date for older ones.
function fmtClock(ms) {
  if (ms === null || ms === undefined) return "—";
  const text = fmtTime(ms);
  return Date.now() - ms < 86400000 ? text.slice(11) : text.slice(0, 10);
}

export class SensorTable {
  constructor(legend, onSelect) {
    this.legend = legend;
    this.onSelect = onSelect;
    this.s = null;
    this.order = [];
    this.sortKey = "status";
    this.desc = false;
    this.selected = null;
    this.box = document.getElementById("table");
    this.rows = document.getElementById("table-rows");
    this.spacer = document.getElementById("table-spacer");
    this.search = document.getElementById("search");
    this.filter = document.getElementById("status-filter");
    for (const [i, st] of legend.entries()) {
      const o = document.createElement("option");
      o.value = String(i);
      o.textContent = st.label;
      this.filter.append(o);
    }
    this.search.addEventListener("input", () => this.refresh());
    this.filter.addEventListener("change", () => this.refresh());
    this.box.addEventListener("scroll", () => this.draw());
    for (const head of document.querySelectorAll("#table-head span")) {
      head.addEventListener("click", () => {
        const key = head.dataset.key;
        this.desc = this.sortKey === key ? !this.desc : false;
        this.sortKey = key;
        this.refresh();
      });
    }
    this.rows.addEventListener("click", (e) => {
      const row = e.target.closest(".row");
      if (row) this.onSelect(Number(row.dataset.i));
    });
    this._pending = false;
  }

  setSensors(s) { this.s = s; this.refresh(); }

  // Updates arrive many times a second; re-sort at most twice a second.
  changed() {
    if (this._pending) return;
    this._pending = true;
    setTimeout(() => { this._pending = false; this.refresh(); }, 500);
  }

  refresh() {
    const s = this.s;
    if (!s) return;
    const q = this.search.value.trim().toLowerCase();
    const st = this.filter.value === "" ? null : Number(this.filter.value);
    const idx = [];
    for (let i = 0; i < s.id.length; i++) {
      if (st !== null && s.status[i] !== st) continue;
      if (q && !(`${s.id[i]} ${s.name[i]} ${s.kind[i]} ${s.layer[i]}`.toLowerCase().includes(q))) continue;
      idx.push(i);
    }
    const key = this.sortKey;
    const col = key === "name" ? s.name : key === "status" ? s.status : key === "value" ? s.value : s.ts;
    const dir = this.desc ? -1 : 1;
    idx.sort((a, b) => {
      const x = col[a], y = col[b];
      if (x === y) return s.id[a] < s.id[b] ? -1 : 1;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * dir;
    });
    this.order = idx;
    for (const head of document.querySelectorAll("#table-head span")) {
      head.classList.toggle("sorted", head.dataset.key === key);
      head.classList.toggle("desc", head.dataset.key === key && this.desc);
    }
    document.getElementById("sensor-count").textContent = `${idx.length} of ${s.id.length}`;
    this.spacer.style.height = `${idx.length * ROW}px`;
    this.draw();
  }

  draw() {
    const s = this.s;
    if (!s) return;
    const first = Math.max(0, Math.floor(this.box.scrollTop / ROW) - 5);
    const last = Math.min(this.order.length, first + Math.ceil(this.box.clientHeight / ROW) + 10);
    this.rows.style.top = `${first * ROW}px`;
    const frag = document.createDocumentFragment();
    for (let k = first; k < last; k++) {
      const i = this.order[k];
      const row = document.createElement("div");
      row.className = "row" + (i === this.selected ? " selected" : "");
      row.dataset.i = String(i);
      row.dataset.id = s.id[i];
      const st = this.legend[s.status[i]];
      const cells = [s.name[i] || s.id[i], st.label, s.text[i], fmtClock(s.ts[i])];
      cells.forEach((text, c) => {
        const span = document.createElement("span");
        if (c === 1) {
          const sw = document.createElement("i");
          sw.className = "swatch";
          sw.style.background = st.hex;
          span.append(sw);
        }
        span.append(text);
        span.title = c === 0 ? `${s.id[i]} (${s.kind[i]}, ${s.layer[i]})` : c === 3 ? `${fmtTime(s.ts[i])} UTC` : text;
        row.append(span);
      });
      frag.append(row);
    }
    this.rows.replaceChildren(frag);
  }

  select(i) {
    this.selected = i;
    const k = this.order.indexOf(i);
    if (k >= 0) {
      const top = k * ROW;
      if (top < this.box.scrollTop || top > this.box.scrollTop + this.box.clientHeight - ROW) this.box.scrollTop = top - 2 * ROW;
    }
    this.draw();
  }
}
