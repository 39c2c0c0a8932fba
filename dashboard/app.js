// Lockstep dashboard page: one WebSocket (/live) delivering a snapshot of the cluster at most
// ten times a second; the page keeps its own short history for the time charts.
/* global uPlot */
"use strict";

const HISTORY = 120; // points kept for time charts (~2 minutes at one point a second)
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];
const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? "–" : n === "" ? "" : Number(n).toLocaleString("en-US"));

let controls = { nodes: [] };
let prevLadder = new Map();
let lastHistoryAt = 0;
const history = { t: [], rate: [], skew: new Map(), bound: new Map(), raw: new Map(), comp: new Map() };
const charts = {};

function width(el) {
  return Math.max(200, el.clientWidth);
}

function chart(id, opts, data) {
  const el = $(id);
  if (charts[id] === undefined || charts[id].series.length !== opts.series.length) {
    if (charts[id] !== undefined) charts[id].destroy();
    // Room for labels such as "10,000,000" on the y axis.
    const { legend, axes, ...rest } = opts;
    charts[id] = new uPlot({ width: width(el), height: 150, ...rest, legend: { show: legend ?? true }, axes: axes ?? [{}, { size: 70 }] }, data, el);
  } else charts[id].setData(data);
}

function renderLadder(book) {
  const body = $("ladder").tBodies[0];
  const next = new Map();
  const rows = [];
  const asks = book.asks.slice().reverse();
  for (const [px, qty] of asks) rows.push(["ask", px, "", qty]);
  for (const [px, qty] of book.bids) rows.push(["bid", px, qty, ""]);
  body.innerHTML = "";
  rows.forEach(([side, px, bq, aq], i) => {
    const tr = document.createElement("tr");
    tr.className = side + (side === "bid" && i > 0 && rows[i - 1][0] === "ask" ? " spread" : "");
    const key = `${side}:${px}`;
    const qty = side === "bid" ? bq : aq;
    next.set(key, qty);
    const changed = prevLadder.size > 0 && prevLadder.get(key) !== qty;
    tr.innerHTML = `<td class="${changed && side === "bid" ? "chg" : ""}">${fmt(bq)}</td><td>${fmt(px)}</td><td class="${changed && side === "ask" ? "chg" : ""}">${fmt(aq)}</td>`;
    body.appendChild(tr);
  });
  prevLadder = next;
  $("book-seq").textContent = book.seq > 0 ? `as of seq ${fmt(book.seq)}` : "";
  // Depth: cumulative quantity away from the touch on each side.
  const xs = [];
  const bidCum = [];
  const askCum = [];
  let c = 0;
  const bids = book.bids.map(([p, q]) => [p, (c += q)]).reverse();
  c = 0;
  const asksCum = book.asks.map(([p, q]) => [p, (c += q)]);
  for (const [p, q] of bids) { xs.push(p); bidCum.push(q); askCum.push(null); }
  for (const [p, q] of asksCum) { xs.push(p); bidCum.push(null); askCum.push(q); }
  chart("depth", {
    height: 120, legend: false, series: [{ label: "price" }, { label: "bids", stroke: "#1e8e3e", fill: "rgba(30,142,62,.15)", paths: uPlot.paths.stepped({ align: -1 }) }, { label: "asks", stroke: "#c5221f", fill: "rgba(197,34,31,.15)", paths: uPlot.paths.stepped({ align: 1 }) }],
    scales: { x: { time: false } },
  }, [xs, bidCum, askCum]);
}

function renderTape(trades) {
  const body = $("tape").tBodies[0];
  body.innerHTML = trades.map((t) => `<tr><td>${fmt(t.seq)}</td><td class="${t.side === 0 ? "buy" : "sell"}">${t.side === 0 ? "buy" : "sell"}</td><td>${fmt(t.px)}</td><td>${fmt(t.qty)}</td></tr>`).join("");
}

function renderRejects(rejects) {
  const entries = Object.entries(rejects).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  $("rejects").tBodies[0].innerHTML = entries.length === 0 ? `<tr><td style="text-align:left">none</td></tr>` : entries.map(([k, n]) => `<tr><td style="text-align:left">${k}</td><td>${fmt(n)}</td></tr>`).join("");
}

function actionsFor(id) {
  const node = controls.nodes.find((n) => n.id === id);
  if (node === undefined) return "";
  return node.actions.map((a) => `<button data-action="${a}" data-node="${id}">${a}</button>`).join("");
}

// Rows are created once per replica and updated in place, so buttons stay put under the pointer.
function renderReplicas(replicas) {
  const body = $("replicas").tBodies[0];
  for (const r of replicas) {
    let tr = body.querySelector(`tr[data-replica="${r.id}"]`);
    if (tr === null) {
      tr = document.createElement("tr");
      tr.dataset.replica = r.id;
      tr.innerHTML = `<td><span class="dot"></span></td><td>${r.id}</td><td class="seq"></td><td class="lag"></td><td class="lagms"></td><td class="offset"></td><td class="oneway"></td><td>${actionsFor(r.id)}</td>`;
      body.appendChild(tr);
    }
    tr.className = `status-${r.status}`;
    tr.title = r.why;
    tr.querySelector(".seq").textContent = fmt(r.seq);
    tr.querySelector(".lag").textContent = r.up ? fmt(r.lagSeq) : "–";
    tr.querySelector(".lagms").textContent = r.up ? String(r.lagMs) : "–";
    tr.querySelector(".offset").textContent = r.offsetUs === null ? "–" : `${fmt(r.offsetUs)} ± ${fmt(r.boundUs)}`;
    tr.querySelector(".oneway").textContent = r.up ? `${fmt(r.oneWayRawP50)} / ${fmt(r.oneWayCompP50)}` : r.why;
    for (const b of tr.querySelectorAll("button")) b.disabled = (b.dataset.action === "kill") !== r.up;
  }
}

function push(map, id, v) {
  if (!map.has(id)) map.set(id, Array(history.t.length - 1).fill(null));
  map.get(id).push(v);
}

function renderHistory(s) {
  const now = s.at / 1000;
  if (now - lastHistoryAt < 1) return;
  lastHistoryAt = now;
  history.t.push(now);
  history.rate.push(s.ordersPerS);
  for (const r of s.replicas) {
    push(history.skew, r.id, r.offsetUs);
    push(history.bound, r.id, r.boundUs);
    push(history.raw, r.id, r.up ? r.oneWayRawP50 : null);
    push(history.comp, r.id, r.up ? r.oneWayCompP50 : null);
  }
  const trim = (a) => { while (a.length > HISTORY) a.shift(); };
  trim(history.t);
  trim(history.rate);
  for (const m of [history.skew, history.bound, history.raw, history.comp]) for (const a of m.values()) { while (a.length < history.t.length) a.push(null); trim(a); }
  chart("rate-chart", { height: 120, legend: false, series: [{}, { label: "orders/s", stroke: "#1f77b4", fill: "rgba(31,119,180,.1)" }] }, [history.t, history.rate]);
  const ids = s.replicas.map((r) => r.id);
  chart("skew-chart", {
    height: 105,
    series: [{}, ...ids.flatMap((id, i) => [{ label: `${id} offset`, stroke: COLORS[i % COLORS.length] }, { label: `${id} ± bound`, stroke: COLORS[i % COLORS.length], dash: [4, 4], width: 1 }])],
  }, [history.t, ...ids.flatMap((id) => [history.skew.get(id), history.bound.get(id)])]);
  chart("oneway-chart", {
    height: 105,
    series: [{}, ...ids.flatMap((id, i) => [{ label: `${id} raw`, stroke: COLORS[i % COLORS.length], dash: [4, 4] }, { label: `${id} compensated`, stroke: COLORS[i % COLORS.length] }])],
  }, [history.t, ...ids.flatMap((id) => [history.raw.get(id), history.comp.get(id)])]);
}

// HdrHistogram-style plot: x = log10(1 / (1 − p)), so 90 % = 1, 99 % = 2, … ; max drawn at 6.
const HOP_X = [Math.log10(2), 1, 2, 3, 4, 6];
function renderHops(replicas) {
  const r = replicas.find((x) => x.up);
  if (r === undefined) return;
  $("hops-of").textContent = `(${r.id}, since start; x: 50 %, 90 %, 99 %, 99.9 %, 99.99 %, max)`;
  const names = Object.keys(r.hops).filter((k) => r.hops[k].length === HOP_X.length);
  chart("hops-chart", {
    height: 130,
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ values: (u, vals) => vals.map((v) => (v >= 6 ? "max" : `${(100 - 100 / Math.pow(10, v)).toPrecision(Math.max(2, Math.ceil(v) + 1))}%`)) }, { label: "µs", size: 80 }],
    series: [{ label: "percentile" }, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], points: { show: true } }))],
  }, [HOP_X, ...names.map((n) => r.hops[n].map((v) => Math.max(1, v)))]);
}

// With several shards (lockstep start --shards), every shard's line, this page's first in bold.
function renderShards(s) {
  if (s.shards === undefined) return;
  $("shards-panel").hidden = false;
  document.body.classList.add("sharded");
  document.title = `Lockstep — shard ${s.shard}`;
  document.querySelector("header h1").textContent = `Lockstep · ${s.shard}`;
  $("shards").tBodies[0].innerHTML = s.shards.map((r) => {
    const here = r.id === s.shard;
    const link = here ? "this page" : `<a href="${r.url}">open</a>`;
    return `<tr data-shard="${r.id}" class="status-${r.status}${here ? " here" : ""}" title="${r.why}"><td><span class="dot"></span></td><td>${r.id}</td><td>${r.instruments.join(", ")}</td><td class="seq">${fmt(r.seq)}</td><td>${fmt(r.epoch)}</td><td>${fmt(r.ordersPerS)}</td><td>${fmt(r.acks)}</td><td class="up">${r.replicasUp} / ${r.replicas}</td><td>${link}</td></tr>`;
  }).join("");
}

function render(s) {
  renderShards(s);
  const agree = $("agree");
  agree.textContent = s.agree ? "replicas agree" : "DIVERGENCE";
  agree.className = `pill ${s.agree ? "green" : "red"}`;
  $("seq").textContent = fmt(s.seq);
  $("epoch").textContent = fmt(s.epoch);
  $("rate").textContent = fmt(s.ordersPerS);
  $("acks").textContent = fmt(s.acks);
  renderLadder(s.book);
  renderTape(s.trades);
  renderRejects(s.rejects);
  renderReplicas(s.replicas);
  renderHistory(s);
  renderHops(s.replicas);
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/live`);
  ws.onopen = () => { $("conn").textContent = "live"; };
  ws.onmessage = (e) => render(JSON.parse(e.data));
  ws.onclose = () => {
    $("conn").textContent = "disconnected; retrying…";
    setTimeout(connect, 1000);
  };
}

document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-action]");
  if (b === null || b.disabled) return;
  b.disabled = true;
  fetch(`/control/${b.dataset.action}/${b.dataset.node}`, { method: "POST", headers: { "x-lockstep-control": "1" } })
    .then((r) => r.json())
    .then((r) => { if (r.error !== undefined) $("conn").textContent = `${r.error}: ${r.message}`; })
    .catch((err) => { $("conn").textContent = `control failed: ${err.message}`; });
});

fetch("/controls").then((r) => r.json()).then((c) => { controls = c; }).catch(() => undefined).finally(connect);
