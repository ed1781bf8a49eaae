// evofarm dashboard: fills the pages from the JSON API and draws plain SVG.
// No library and no network beyond this server; text goes in with textContent only.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 2000;

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = String(text);
  return node;
}

async function api(path, options) {
  // The header proves a cookie-authenticated POST comes from this page (no cross-site form can add it).
  const opts = Object.assign({ credentials: "same-origin" }, options);
  opts.headers = Object.assign({ "X-Evofarm-Dashboard": "1" }, opts.headers || {});
  const response = await fetch(path, opts);
  if (response.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname); }
  if (!response.ok) {
    let detail = "";
    try { detail = (await response.json()).error || ""; } catch (e) { /* not JSON */ }
    throw new Error(detail || path + ": " + response.status);
  }
  return response.json();
}

function fmt(value, digits) {
  if (value === null || value === undefined) return "-";
  return typeof value === "number" ? value.toFixed(digits === undefined ? 4 : digits) : String(value);
}

function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    for (const cell of cells) {
      const td = el("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
      tr.appendChild(td);
    }
    return tr;
  }));
}

function queues(q) {
  return Object.entries(q || {}).map(([k, v]) => k + " " + v).join(", ") || "-";
}

// ---- campaigns page ----------------------------------------------------------------
async function campaignsPage() {
  const data = await api("/api/campaigns");
  const rows = data.campaigns.map((c) => {
    const link = el("a", { href: "/campaigns/" + encodeURIComponent(c.id), class: "campaign-link" }, c.id);
    const status = el("span", { class: "status-" + c.status }, c.status);
    return [link, status, c.generation + "/" + c.generations, fmt(c.best_fitness),
      fmt(c.evaluations_per_s, 2), c.evaluations, c.tokens, "$" + fmt(c.cost_usd),
      fmt(c.workers_online, 0), queues(c.queues)];
  });
  fillRows(document.querySelector("#campaigns tbody"), rows);
  document.getElementById("empty").hidden = rows.length > 0;
  document.getElementById("fleet").textContent = data.workers_online === null ? "" :
    "workers online " + data.workers_online + "; queues " + queues(data.queues);
}

// ---- charts --------------------------------------------------------------------------
function lineChart(target, series, opts) {
  const W = 720, H = 220, L = 44, B = 28, T = 10, R = 10;
  const points = series.flatMap((s) => s.values.filter((v) => v[1] !== null));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label });
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(0, ...xs), x1 = Math.max(1, ...xs);
  const y0 = opts.y0 !== undefined ? opts.y0 : Math.min(0, ...ys);
  const y1 = opts.y1 !== undefined ? opts.y1 : Math.max(1e-9, ...ys);
  const X = (x) => L + (W - L - R) * (x - x0) / (x1 - x0 || 1);
  const Y = (y) => H - B - (H - B - T) * (y - y0) / (y1 - y0 || 1);
  root.appendChild(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#99a" }));
  root.appendChild(svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#99a" }));
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    root.appendChild(svg("text", { x: 4, y: Y(y) + 4, "font-size": 11 }, fmt(y, 2)));
  }
  root.appendChild(svg("text", { x: W / 2, y: H - 6, "font-size": 11 }, opts.xlabel || "generation"));
  series.forEach((s, i) => {
    const pts = s.values.filter((v) => v[1] !== null);
    root.appendChild(svg("polyline", {
      points: pts.map((p) => X(p[0]) + "," + Y(p[1])).join(" "), fill: "none",
      stroke: s.color, "stroke-width": 2, class: "series-" + s.name,
    }));
    for (const p of pts) root.appendChild(svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.5, fill: s.color }));
    root.appendChild(svg("text", { x: L + 10 + i * 130, y: T + 12, fill: s.color, "font-size": 12 }, s.name));
  });
  target.replaceChildren(root);
}

function lineageGraph(target, graph, best, onPick) {
  const byGen = new Map();
  for (const n of graph.nodes) {
    if (!byGen.has(n.generation)) byGen.set(n.generation, []);
    byGen.get(n.generation).push(n);
  }
  const gens = [...byGen.keys()].sort((a, b) => a - b);
  const tallest = Math.max(1, ...[...byGen.values()].map((v) => v.length));
  const W = Math.max(420, 110 * gens.length), H = Math.max(160, 22 * tallest + 40);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "genealogy" });
  const pos = new Map();
  gens.forEach((g, gi) => {
    const col = byGen.get(g).sort((a, b) => (b.fitness || 0) - (a.fitness || 0));
    col.forEach((n, i) => pos.set(n.id, [50 + gi * ((W - 100) / Math.max(1, gens.length - 1)),
      30 + i * ((H - 50) / Math.max(1, col.length - 1 || 1))]));
    root.appendChild(svg("text", { x: pos.get(col[0].id)[0] - 10, y: 14, "font-size": 11 }, "gen " + g));
  });
  for (const e of graph.edges) {
    const a = pos.get(e.parent), b = pos.get(e.child);
    if (!a || !b) continue;
    const line = svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], stroke: "#b8c2cc" });
    line.appendChild(svg("title", {}, e.operator));
    root.appendChild(line);
  }
  for (const n of graph.nodes) {
    const [x, y] = pos.get(n.id);
    const f = n.fitness === null ? 0 : n.fitness;
    const color = n.fitness === null ? "#ccc" : `hsl(${Math.round(120 * f)},65%,45%)`;
    const c = svg("circle", { cx: x, cy: y, r: 7, fill: color, class: "node" + (n.id === best ? " best" : ""),
      "data-genome": n.id, "data-generation": n.generation });
    c.appendChild(svg("title", {}, `${n.id.slice(0, 12)} gen ${n.generation} ${n.operator} fitness ${fmt(n.fitness)}`));
    c.addEventListener("click", () => {
      root.querySelectorAll("circle.selected").forEach((s) => s.classList.remove("selected"));
      c.classList.add("selected");
      onPick(n.id);
    });
    root.appendChild(c);
  }
  target.replaceChildren(root);
}

function diffBlock(text) {
  const pre = el("pre", { class: "diff" });
  for (const line of text.split("\n")) {
    const cls = line.startsWith("+") ? "diff-add" : line.startsWith("-") ? "diff-del" : "";
    pre.appendChild(el("span", cls ? { class: cls } : {}, line + "\n"));
  }
  return pre;
}

// ---- campaign page -------------------------------------------------------------------
async function showGenome(campaign, id) {
  const g = await api(`/api/campaigns/${encodeURIComponent(campaign)}/genomes/${encodeURIComponent(id)}`);
  const box = document.getElementById("genome");
  const parts = [el("h2", {}, "Genome " + g.id.slice(0, 12)),
    el("p", { class: "muted" }, `generation ${g.generation}, made by ${g.operator}` +
      (g.evaluation ? `, fitness ${fmt(g.evaluation.score)} (${g.evaluation.outcome})` : ", not evaluated"))];
  if (g.mutations.length) {
    parts.push(el("h3", {}, "Mutations"));
    const table = el("table", { id: "mutations" }); const body = el("tbody");
    table.appendChild(body);
    fillRows(body, g.mutations.map((m) => [m.operator, m.target || "-", m.rationale || "-", m.outcome]));
    parts.push(table);
  }
  parts.push(el("h3", {}, "YAML"), el("pre", { id: "genome-yaml" }, g.yaml));
  for (const d of g.diffs) { parts.push(el("h3", {}, "Diff against " + d.parent.slice(0, 12)), diffBlock(d.diff)); }
  if (g.evaluation) {
    parts.push(el("h3", {}, "Cases"));
    const table = el("table", { id: "cases" }); const body = el("tbody");
    table.appendChild(body);
    fillRows(body, g.evaluation.cases.map((c) => [c.case, c.outcome, `${c.checks_passed}/${c.checks_total} checks`,
      c.reason || "", c.output_excerpt]));
    parts.push(table);
  }
  box.replaceChildren(...parts);
}

async function campaignPage(campaign, state) {
  const base = "/api/campaigns/" + encodeURIComponent(campaign);
  const [d, hist, graph, ops, res, museum, gallery] = await Promise.all(
    ["", "/history", "/lineage", "/operators", "/resources", "/museum", "/gallery"].map((p) => api(base + p)));
  const figures = [["status", d.status + (d.reason ? " (" + d.reason + ")" : "")],
    ["generation", d.generation + "/" + d.generations], ["best", fmt(d.best_fitness)],
    ["evaluations", d.evaluations], ["eval/s", fmt(d.evaluations_per_s, 2)], ["tokens", d.tokens],
    ["USD", "$" + fmt(d.cost_usd)], ["workers online", fmt(d.workers_online, 0)], ["queues", queues(d.queues)]];
  // The summary's breakdown: tokens and USD per role, what the caches answered.
  for (const [role, u] of Object.entries(d.usage_by_role || {})) {
    figures.push([role + " tokens / USD", u.tokens + " / $" + fmt(u.cost_usd)]);
  }
  if (d.cache_hits && d.cache_hits.responses !== undefined) {
    figures.push(["cache hits (calls / evaluations)", d.cache_hits.responses + " / " + d.cache_hits.evaluations]);
  }
  document.getElementById("summary").replaceChildren(...figures.map(([k, v]) => {
    const f = el("div", { class: "figure", "data-figure": k }); f.appendChild(el("b", {}, v));
    f.appendChild(el("span", { class: "muted" }, k)); return f;
  }));
  document.getElementById("anomalies").replaceChildren(el("h2", {}, "Anomalies"),
    ...(d.anomalies.length ? d.anomalies.map((a) => el("div", { class: "anomaly" },
      `generation ${a.generation}: ${a.kind}: ${a.message}`)) : [el("p", { class: "muted" }, "none detected")]));
  const decided = d.decision ? ` by ${d.decision.by}` + (d.decision.note ? `: ${d.decision.note}` : "") : "";
  document.getElementById("approval-state").textContent = "decision: " + d.approval + decided;
  document.getElementById("approval-controls").hidden =
    !(d.approval === "pending" && d.best && ENDED.includes(d.status));
  lineChart(document.getElementById("trend"), [
    { name: "best", color: "#176a2a", values: hist.map((h) => [h.generation, h.best]) },
    { name: "median", color: "#1464b4", values: hist.map((h) => [h.generation, h.median]) },
  ], { label: "fitness trend", y0: 0, y1: 1 });
  lineChart(document.getElementById("resources"), [
    { name: "tokens", color: "#7a3fb0", values: res.map((r) => [r.generation, r.tokens]) },
  ], { label: "tokens per generation" });
  if (state.nodes !== graph.nodes.length) {
    state.nodes = graph.nodes.length;
    lineageGraph(document.getElementById("lineage"), graph, d.best, (id) => showGenome(campaign, id));
  }
  fillRows(document.querySelector("#operators tbody"), ops.map((o) => [o.operator, o.attempts,
    fmt(o.valid_child_rate, 3), o.evaluated_children, fmt(o.improvement_rate, 3), o.invalid, o.noop]));
  const m = document.getElementById("museum");
  const groups = Object.entries(museum);
  m.replaceChildren(...(groups.length ? groups.map(([outcome, entries]) => {
    const div = el("div", { class: "museum-group" });
    div.appendChild(el("h3", {}, `${outcome} (${entries.length})`));
    for (const e of entries.slice(0, 20)) {
      div.appendChild(el("p", {}, `gen ${e.generation} ${String(e.genome).slice(0, 12)}: ${e.reason || ""}`));
    }
    return div;
  }) : [el("p", { class: "muted" }, "no failed candidate")]));
  fillRows(document.querySelector("#gallery tbody"), gallery.map((g) => [g.generation,
    g.genome.slice(0, 12), g.step, g.pattern, g.operator, fmt(g.fitness)]));
  return d.status === "running" || d.status === "submitted";
}

const ENDED = ["completed", "stopped", "failed", "killed"];

async function decideWinner(campaign, action, state) {
  const note = document.getElementById("approval-note").value;
  const out = document.getElementById("approval-result");
  try {
    const r = await api(`/api/campaigns/${encodeURIComponent(campaign)}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ note }),
    });
    out.textContent = r.version ? `deployed ${r.deployed} v${r.version}` : r.approval;
  } catch (err) {
    out.textContent = String(err.message || err);
  }
  await campaignPage(campaign, state);
}

async function control(campaign, action) {
  if (action === "kill" && !window.confirm("Kill this campaign now?")) return;
  const r = await api(`/api/campaigns/${encodeURIComponent(campaign)}/${action}`, { method: "POST" });
  document.getElementById("control-result").textContent = JSON.stringify(r);
}

async function main() {
  const page = document.body.dataset.page;
  if (page === "campaigns") {
    await campaignsPage();
    setInterval(campaignsPage, REFRESH_MS);
  } else if (page === "campaign") {
    const campaign = document.body.dataset.campaign, state = { nodes: -1 };
    document.getElementById("stop").addEventListener("click", () => control(campaign, "stop"));
    document.getElementById("kill").addEventListener("click", () => control(campaign, "kill"));
    for (const action of ["approve", "reject"]) {
      document.getElementById(action).addEventListener("click", () => decideWinner(campaign, action, state));
    }
    const tick = async () => { if (await campaignPage(campaign, state)) setTimeout(tick, REFRESH_MS); };
    await tick();
  }
  document.body.dataset.ready = "1";
}

main().catch((err) => { document.body.dataset.error = String(err); console.error(err); });
