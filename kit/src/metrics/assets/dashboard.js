// brisk live page: polls /dashboard/data.json and draws every chart on plain canvas.
// Each drawn canvas gets data-points (non-empty values drawn) so a headless browser
// test can assert that the charts hold data.
"use strict";

const PALETTE = ["#59c2ff", "#aad94c", "#ffb454", "#f07178", "#d2a6ff", "#95e6cb", "#e6b673", "#39bae6", "#ff8f40", "#c2d94c"];
const REFRESH_MS = 3000;

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(digits === undefined ? 1 : digits);
}

// series: [{name, color, values: [number|null]}], aligned with xs (Unix ms).
function lineChart(canvas, xs, series, opts) {
  opts = opts || {};
  const w = canvas.width, h = canvas.height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const pad = { l: 48, r: 10, t: 8, b: 22 };
  let max = opts.max || 0, min = Infinity, drawn = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v !== undefined) { max = Math.max(max, v); if (v > 0) min = Math.min(min, v); drawn++; }
  if (!opts.max) max = max > 0 ? max * 1.15 : 1;
  // A fixed window ending now (opts.windowMs), so idle time keeps its width.
  const x1 = xs.length ? xs[xs.length - 1] : 1;
  const x0 = opts.windowMs ? x1 - opts.windowMs : (xs.length ? xs[0] : 0);
  const span = Math.max(x1 - x0, 1);
  const X = (t) => pad.l + (xs.length > 1 || opts.windowMs ? (t - x0) / span : 0.5) * (w - pad.l - pad.r);
  // Latency on a log axis (opts.log): one slow outlier no longer flattens the rest.
  const lo = opts.log ? Math.pow(10, Math.floor(Math.log10(min === Infinity ? 0.1 : min))) : 0;
  const hi = opts.log ? Math.pow(10, Math.ceil(Math.log10(Math.max(max, lo * 10)))) : max;
  const frac = (v) => opts.log ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : v / max;
  const Y = (v) => h - pad.b - frac(v) * (h - pad.t - pad.b);

  ctx.strokeStyle = "#26313b"; ctx.fillStyle = "#8a96a3"; ctx.lineWidth = 1;
  ctx.font = "11px sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  const ticks = [];
  if (opts.log) for (let v = lo; v <= hi * 1.001; v *= 10) ticks.push(v);
  else for (let i = 0; i <= 4; i++) ticks.push((max * i) / 4);
  for (const v of ticks) {
    const y = Y(v);
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
    const scale = opts.log ? v : max;
    const digits = scale >= 40 ? 0 : scale >= 4 ? 1 : scale >= 0.4 ? 2 : 3;
    ctx.fillText(opts.percent ? Math.round(v * 100) + "%" : fmt(v, digits), pad.l - 6, y);
  }
  canvas.dataset.scale = opts.log ? "log" : "linear";
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  if (xs.length > 1 || opts.windowMs) {
    ctx.textAlign = "left";
    ctx.fillText("−" + Math.round(span / 1000) + " s", pad.l, h - pad.b + 6);
    ctx.textAlign = "right";
    ctx.fillText("now", X(x1), h - pad.b + 6);
  } else if (xs.length) {
    ctx.fillText("now", X(x1), h - pad.b + 6);
  }

  series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 2;
    let open = false;
    ctx.beginPath();
    s.values.forEach((v, j) => {
      if (v === null || v === undefined) { open = false; return; }
      const x = X(xs[j]), y = Y(v);
      if (open) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      open = true;
    });
    ctx.stroke();
    s.values.forEach((v, j) => {
      if (v === null || v === undefined) return;
      ctx.beginPath(); ctx.arc(X(xs[j]), Y(v), 2.5, 0, 2 * Math.PI); ctx.fill();
    });
  });
  if (!drawn) {
    ctx.fillStyle = "#8a96a3"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText("no data yet", w / 2, h / 2);
  }
  canvas.dataset.points = String(drawn);
  canvas.dataset.series = String(series.length);
  if (opts.legend) {
    const el = document.getElementById(opts.legend);
    el.innerHTML = "";
    series.forEach((s, i) => {
      const span = document.createElement("span");
      const sw = document.createElement("i");
      sw.style.background = s.color || PALETTE[i % PALETTE.length];
      span.appendChild(sw);
      span.appendChild(document.createTextNode(s.name));
      el.appendChild(span);
    });
  }
}

function last(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
  return null;
}

function routeCharts(d) {
  const holder = document.getElementById("route-charts");
  const want = d.routes.map((r) => r.key);
  const have = Array.from(holder.querySelectorAll("figure")).map((f) => f.dataset.route);
  if (want.join("\n") !== have.join("\n")) {
    holder.innerHTML = "";
    d.routes.forEach((r, i) => {
      const fig = document.createElement("figure");
      fig.dataset.route = r.key;
      fig.className = "route-chart";
      const cap = document.createElement("figcaption");
      cap.textContent = r.key;
      const c = document.createElement("canvas");
      c.width = 440; c.height = 160; c.id = "route-chart-" + i;
      fig.appendChild(cap); fig.appendChild(c);
      holder.appendChild(fig);
    });
  }
  d.routes.forEach((r, i) => {
    lineChart(document.getElementById("route-chart-" + i), d.t_ms, [
      { name: "p50", color: "#aad94c", values: r.p50 },
      { name: "p95", color: "#ffb454", values: r.p95 },
      { name: "p99", color: "#f07178", values: r.p99 },
    ], { log: true, windowMs: d.window_secs * 1000 });
  });
}

function table(d) {
  const body = document.querySelector("#routes tbody");
  body.innerHTML = "";
  for (const r of d.routes) {
    const tr = document.createElement("tr");
    tr.dataset.route = r.route;
    tr.dataset.count = String(r.count);
    const cells = [r.method, r.route, r.count.toLocaleString("en-US"), fmt(last(r.rps)), fmt(r.p50_ms, 2), fmt(r.p95_ms, 2), fmt(r.p99_ms, 2),
      r.statements_p50 + " / " + r.statements_p99, fmt(r.db_ms_mean, 2), r.status["2xx"], r.status["3xx"], r.status["4xx"], r.status["5xx"]];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
    body.appendChild(tr);
  }
}

// The page's own requests (/dashboard, its assets and data) stay in the table but not in
// the charts, where they would only add noise.
const isOwn = (r) => r.route === "/dashboard" || r.route.startsWith("/dashboard/");

function render(all) {
  const d = Object.assign({}, all, { routes: all.routes.filter((r) => !isOwn(r)) });
  const xs = d.t_ms;
  const windowMs = d.window_secs * 1000;
  const total = xs.map((_, j) => d.routes.reduce((acc, r) => acc + (r.rps[j] || 0), 0));
  document.getElementById("tile-rps").textContent = fmt(last(total));
  document.getElementById("tile-inflight").textContent = d.in_flight;
  document.getElementById("tile-cache").textContent = d.cache_hit_ratio_total === null ? "–" : (d.cache_hit_ratio_total * 100).toFixed(1) + " %";
  document.getElementById("tile-rejected").textContent = (d.limiter.rejected || 0).toLocaleString("en-US");
  const db = d.pools.find((p) => p.name === "db");
  document.getElementById("tile-pool").textContent = db ? (db.latest.connections - db.latest.idle) + " / " + db.max_size : "–";
  document.getElementById("interval").textContent = d.interval_secs;

  lineChart(document.getElementById("chart-rps"), xs, d.routes.map((r) => ({ name: r.key, values: r.rps })), { legend: "legend-rps", windowMs });
  lineChart(document.getElementById("chart-p99"), xs, d.routes.map((r) => ({ name: r.key, values: r.p99 })), { legend: "legend-p99", log: true, windowMs });
  lineChart(document.getElementById("chart-cache"), xs, [{ name: "hit ratio", values: d.cache_hit_ratio }], { legend: "legend-cache", max: 1, percent: true, windowMs });
  lineChart(document.getElementById("chart-limiter"), xs, [
    { name: "rejected/s", color: "#f07178", values: d.limiter_rejected_per_s },
    { name: "allowed/s", color: "#aad94c", values: d.limiter_allowed_per_s },
  ], { legend: "legend-limiter", windowMs });
  const pools = [];
  for (const p of d.pools) {
    pools.push({ name: p.name + " in use (max " + p.max_size + ")", values: p.in_use });
    pools.push({ name: p.name + " waiting", values: p.waiting });
  }
  lineChart(document.getElementById("chart-pools"), xs, pools, { legend: "legend-pools", windowMs });
  routeCharts(d);
  table(all);
}

// One process's view a click away: /dashboard?process=HOST:PORT draws that process's own
// data, fetched by the process serving this page (/dashboard/peer.json).
const VIEW = new URLSearchParams(location.search).get("process");
const DATA_URL = VIEW ? "/dashboard/peer.json?ops=" + encodeURIComponent(VIEW) : "/dashboard/data.json";

function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }

function ago(secs) { return secs === null || secs === undefined ? "not registered" : fmt(secs, 1) + " s ago"; }

// The cluster: every registered process (answering or not) and each route's merged
// quantiles. Rows carry data-* attributes with the raw numbers for the browser test.
function renderCluster(c) {
  const summary = document.getElementById("cluster-summary");
  const ok = c.processes.filter((p) => p.state === "ok").length;
  summary.dataset.registry = c.registry;
  summary.textContent = c.processes.length + " processes, " + ok + " answering" +
    (c.registry === "ok" ? "" : c.registry === "off" ? " (no shared Redis: this process alone)" : " (registry unreadable: this process only)");
  const procs = document.querySelector("#processes tbody");
  procs.innerHTML = "";
  for (const p of c.processes) {
    const tr = document.createElement("tr");
    Object.assign(tr.dataset, { process: p.ops, state: p.state, this: String(p.this), pid: String(p.pid) });
    if (p.requests !== null) tr.dataset.requests = String(p.requests);
    cell(tr, p.ops); cell(tr, p.pid);
    cell(tr, p.state === "ok" ? "ok" : p.state + (p.error ? ": " + p.error : ""));
    cell(tr, ago(p.heartbeat_age_secs) + (p.live || p.heartbeat_age_secs === null ? "" : " (late)"));
    cell(tr, p.uptime_secs === null ? "–" : fmt(p.uptime_secs, 0) + " s");
    cell(tr, p.in_flight === null ? "–" : p.in_flight);
    cell(tr, p.requests === null ? "–" : p.requests.toLocaleString("en-US"));
    const a = document.createElement("a");
    a.href = "/dashboard?process=" + encodeURIComponent(p.ops);
    a.textContent = VIEW === p.ops || (!VIEW && p.this) ? "shown below" : "view";
    cell(tr, "").appendChild(a);
    procs.appendChild(tr);
  }
  const routes = document.querySelector("#cluster-routes tbody");
  routes.innerHTML = "";
  for (const r of c.routes.filter((r) => !isOwn(r))) {
    const tr = document.createElement("tr");
    Object.assign(tr.dataset, { clusterRoute: r.key, count: String(r.count), p50: String(r.p50_ms), p95: String(r.p95_ms), p99: String(r.p99_ms),
      perProcess: r.per_process.map((n) => (n === null ? "-" : n)).join(",") });
    cell(tr, r.method); cell(tr, r.route); cell(tr, r.count.toLocaleString("en-US"));
    cell(tr, fmt(r.p50_ms, 2)); cell(tr, fmt(r.p95_ms, 2)); cell(tr, fmt(r.p99_ms, 2));
    cell(tr, r.per_process.map((n) => (n === null ? "?" : n)).join(" / "));
    cell(tr, r.status["4xx"] || 0); cell(tr, r.status["5xx"] || 0);
    routes.appendChild(tr);
  }
  const section = document.getElementById("cluster");
  section.dataset.state = "ok";
  section.dataset.processes = String(c.processes.length);
}

async function refreshCluster() {
  try {
    const res = await fetch("/dashboard/cluster.json", { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    renderCluster(await res.json());
  } catch (e) {
    document.getElementById("cluster").dataset.state = "error";
    document.getElementById("cluster-summary").textContent = "cannot load the cluster: " + e.message;
  }
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const res = await fetch(DATA_URL, { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    const d = await res.json();
    render(d);
    status.dataset.state = "ok";
    status.textContent = "updated " + new Date().toLocaleTimeString() + " · " + d.routes.length + " routes";
  } catch (e) {
    status.dataset.state = "error";
    status.textContent = "cannot load data: " + e.message;
  }
}

if (VIEW) document.getElementById("viewing").textContent = "process " + VIEW + " (fetched through this one)";
function tick() { refresh(); refreshCluster(); }
tick();
setInterval(tick, REFRESH_MS);
