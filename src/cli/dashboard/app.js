// The dkv dashboard page: asks /api/state (src/cli/dashboard.ts) once a second and draws it.
// Plain browser JS, no build step; charts with uPlot (served from the package as /uplot.js).
'use strict';

const REFRESH_MS = 1000;
const DECISIONS_SHOWN_MAX = 30;
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#8c6d31', '#843c39', '#7b4173', '#3182bd'];

const $ = (id) => document.getElementById(id);

/** An element with attributes (a `data-*` or any other) and children (strings become text). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'style') e.style.cssText = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}

const colors = new Map();
function colorOf(node) {
  if (!colors.has(node)) colors.set(node, PALETTE[colors.size % PALETTE.length]);
  return colors.get(node);
}

function duration(ms) {
  if (typeof ms !== 'number') return '-';
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
const num = (v) => (typeof v === 'number' ? v.toLocaleString('en') : '-');
const time = (ms) => new Date(ms).toLocaleTimeString();

// ---------------------------------------------------------------------------------------------

function renderSummary(s) {
  $('cluster').textContent = s.cluster;
  const st = s.status;
  const errorBox = $('status-error');
  if (s.statusError) {
    errorBox.hidden = false;
    errorBox.textContent = `no status at the latest poll: ${s.statusError}${s.statusAtMs ? ` (showing the reply of ${time(s.statusAtMs)})` : ''}`;
  } else {
    errorBox.hidden = true;
  }
  $('updated').textContent = s.polledAtMs ? time(s.polledAtMs) : 'never';
  if (!st) return;
  const members = st.members;
  const up = members.filter((m) => m.display === 'up').length;
  const hints = members.reduce((sum, m) => sum + (m.backlog?.hints ?? 0), 0);
  $('answered-by').textContent = st.answeredBy;
  $('settings').textContent = `${st.settings.n}/${st.settings.r}/${st.settings.w}/${st.settings.q}`;
  $('ring-version').textContent = st.ring?.version ?? '-';
  setValue($('nodes-up'), up);
  $('nodes-total').textContent = members.length;
  setValue($('hints-total'), hints);
  setValue($('transfers-total'), (st.transfers ?? []).length);
}

function setValue(e, v) {
  e.dataset.value = String(v);
  e.textContent = num(v);
}

function renderNodes(st) {
  const body = $('nodes').tBodies[0];
  const hintsMax = Math.max(1, ...st.members.map((m) => m.backlog?.hints ?? 0));
  body.replaceChildren(
    ...st.members.map((m) => {
      const r = m.requests ?? {};
      const hints = m.backlog?.hints;
      const share = typeof hints === 'number' ? Math.round((100 * hints) / hintsMax) : 0;
      return el(
        'tr',
        { 'data-node': m.node, 'data-state': m.display },
        el('td', {}, el('span', { class: 'swatch', style: `background:${colorOf(m.node)}` }), m.node),
        el('td', {}, el('span', { class: `state ${m.display}`, title: m.reason ?? '' }, m.display)),
        el('td', {}, m.status ?? '-'),
        el('td', { class: 'num' }, num(m.partitionsOwned)),
        el('td', { class: 'num' }, num(m.replicaPartitions)),
        el('td', { 'data-hints': hints ?? '', title: m.backlog ? `bound ${num(m.backlog.hintsMax)}${m.backlog.full ? ' (FULL)' : ''}` : 'not reported' }, el('span', { class: 'bar' }, el('i', { style: `width:${share}%` })), typeof hints === 'number' ? num(hints) : '-', m.backlog?.full ? ' FULL' : ''),
        el('td', { class: 'num' }, num(m.backlog?.delivered)),
        el('td', { class: 'num' }, num(r.gets)),
        el('td', { class: 'num' }, num(r.writes)),
        el('td', { class: 'num', 'data-read-repairs': r.readRepairs ?? '' }, num(r.readRepairs)),
        el('td', { class: 'num', 'data-sibling-reads': r.siblingReads ?? '' }, num(r.siblingReads)),
        el('td', { class: 'num' }, num(r.failures)),
        el('td', { class: 'num', title: m.reason ?? '' }, m.state === 'up' ? duration(m.uptimeMs) : 'unreachable'),
      );
    }),
  );
}

function renderViews(st) {
  const ids = st.members.map((m) => m.node);
  const table = $('views');
  table.tHead.replaceChildren(el('tr', {}, el('th', {}, 'sees →'), ids.map((id) => el('th', {}, id))));
  table.tBodies[0].replaceChildren(
    ...st.members.map((m) => {
      const seen = new Map((Array.isArray(m.view) ? m.view : []).map((p) => [p.node, p]));
      return el(
        'tr',
        { 'data-observer': m.node },
        el('th', {}, m.node),
        ids.map((peer) => {
          if (peer === m.node) return el('td', { class: 'self', 'data-peer': peer, 'data-view': 'self' }, '·');
          if (m.display === 'down') return el('td', { class: 'self', 'data-peer': peer, 'data-view': 'unknown' }, '?');
          const p = seen.get(peer);
          if (!p) return el('td', { 'data-peer': peer, 'data-view': 'unknown' }, '-');
          const title = `${p.status} since ${typeof p.sinceMs === 'number' ? time(p.sinceMs) : '?'}${p.reason ? ` (${p.reason})` : ''}${typeof p.lastOkMs === 'number' ? `, last ok ${time(p.lastOkMs)}` : ''}`;
          return el('td', { class: p.status, 'data-peer': peer, 'data-view': p.status, title }, p.status);
        }),
      );
    }),
  );
}

function renderTransfers(st) {
  const box = $('transfers');
  const transfers = st.transfers ?? [];
  if (transfers.length === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, 'none in progress'));
    return;
  }
  // Per node and direction: how many partitions, and the keys received so far.
  const groups = new Map();
  for (const t of transfers) {
    const k = `${t.node} ${t.state}`;
    const g = groups.get(k) ?? { node: t.node, state: t.state, partitions: [], moved: 0 };
    g.partitions.push(t);
    g.moved += typeof t.moved === 'number' ? t.moved : 0;
    groups.set(k, g);
  }
  const owned = st.settings.q;
  box.replaceChildren(
    ...[...groups.values()].map((g) =>
      el(
        'div',
        { class: 'transfer', 'data-transfer-node': g.node, 'data-transfer-state': g.state, 'data-moved': g.moved },
        el('span', { class: 'swatch', style: `background:${colorOf(g.node)}` }),
        `${g.node} ${g.state} ${g.partitions.length} partition${g.partitions.length === 1 ? '' : 's'}`,
        g.state === 'receiving' ? `: ${num(g.moved)} keys moved so far` : ': waiting for their new replicas to confirm',
        el('span', { class: 'bar', style: 'margin-left:8px', title: `${g.partitions.length} of ${owned} partitions not complete` }, el('i', { style: `width:${Math.round((100 * g.partitions.length) / owned)}%` })),
        el('div', { class: 'muted' }, g.partitions.slice(0, 12).map((t) => `p${t.partition}${t.source ? ` ← ${t.source}` : ''}${typeof t.moved === 'number' ? ` (${t.moved})` : ''}${t.rebuild ? ' rebuild' : ''}`).join(', ') + (g.partitions.length > 12 ? ', …' : '')),
      ),
    ),
  );
}

function renderRing(s) {
  const ring = s.ring;
  const strip = $('ring');
  if (!ring) {
    $('ring-note').textContent = '(no ring reply yet)';
    return;
  }
  $('ring-note').textContent = `(Q=${ring.q}, N=${ring.n}, version ${ring.version ?? '?'}; colour: owner; hover a partition for its preference list)`;
  const describe = (p) => {
    const list = ring.preferenceLists[p] ?? [];
    return `partition ${p}: owner ${ring.owners[p]}; replicas ${list.slice(0, ring.n).join(', ')}${list.length > ring.n ? `; then ${list.slice(ring.n).join(', ')}` : ''}`;
  };
  if (strip.children.length !== ring.q || strip.dataset.version !== String(ring.version)) {
    strip.dataset.version = String(ring.version);
    strip.replaceChildren(
      ...ring.owners.map((owner, p) => {
        const cell = el('div', { 'data-partition': p, 'data-owner': owner, title: describe(p), style: `background:${colorOf(owner)}` });
        cell.addEventListener('mouseenter', () => ($('ring-detail').textContent = describe(p)));
        cell.addEventListener('mouseleave', () => ($('ring-detail').textContent = describe(0)));
        return cell;
      }),
    );
    $('ring-detail').textContent = describe(0);
  }
  const states = new Map((s.status?.members ?? []).map((m) => [m.node, m.display]));
  $('ring-legend').replaceChildren(
    ...Object.entries(ring.counts).sort(([a], [b]) => a.localeCompare(b)).map(([node, count]) =>
      el('span', { 'data-ring-node': node }, el('span', { class: 'swatch', style: `background:${colorOf(node)}` }), `${node}: ${count} partitions${states.get(node) && states.get(node) !== 'up' ? ` (${states.get(node)})` : ''}`),
    ),
  );
}

function renderDecisions(st) {
  const all = st.members.flatMap((m) => (Array.isArray(m.decisions) ? m.decisions.map((d) => ({ ...d, node: m.node })) : []));
  all.sort((a, b) => String(b.at).localeCompare(String(a.at)));
  const shown = all.slice(0, DECISIONS_SHOWN_MAX);
  $('decisions-none').hidden = shown.length > 0;
  $('decisions').tBodies[0].replaceChildren(
    ...shown.map((d) => el('tr', { class: `decision-${d.decision}`, 'data-decision-node': d.node }, el('td', {}, d.at ? new Date(d.at).toLocaleTimeString() : '-'), el('td', {}, d.node), el('td', {}, d.actor), el('td', {}, d.decision), el('td', { title: d.reason }, String(d.reason ?? '').slice(0, 80)))),
  );
}

// ---------------------------------------------------------------------------------------------
// Charts

const charts = new Map();

/** Draws `series` (label → values) against `xs`; the chart is made again when the labels change. */
function drawChart(id, xs, series, opts = {}) {
  const box = $(id);
  const labels = series.map((s) => s.label);
  const key = labels.join('|');
  let entry = charts.get(id);
  if (!entry || entry.key !== key) {
    entry?.plot.destroy();
    const width = Math.max(300, box.clientWidth || 500);
    const plot = new uPlot(
      {
        width,
        height: 200,
        scales: { x: { time: true } },
        axes: [{}, { label: opts.yLabel ?? '', size: 50 }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, dash: s.dash, spanGaps: false, value: (u, v) => (v == null ? '-' : v.toFixed(v < 10 ? 2 : 0)) }))],
        legend: { live: true },
      },
      [xs, ...series.map((s) => s.values)],
      box,
    );
    entry = { key, plot };
    charts.set(id, entry);
  } else {
    entry.plot.setData([xs, ...series.map((s) => s.values)]);
  }
}

window.addEventListener('resize', () => {
  for (const [id, { plot }] of charts) plot.setSize({ width: Math.max(300, $(id).clientWidth || 500), height: 200 });
});

function renderCharts(s) {
  const points = s.history ?? [];
  const xs = points.map((p) => p.atMs / 1000);
  const nodes = [...new Set(points.flatMap((p) => Object.keys(p.nodes)))].sort();
  const rate = (p, node, c) => p.nodes[node]?.rates?.[c];
  drawChart(
    'chart-throughput',
    xs,
    nodes.map((node) => ({
      label: node,
      color: colorOf(node),
      values: points.map((p) => {
        const g = rate(p, node, 'gets');
        const w = rate(p, node, 'writes');
        return g === undefined && w === undefined ? null : (g ?? 0) + (w ?? 0);
      }),
    })),
    { yLabel: 'ops/s' },
  );
  const withLatency = nodes.filter((node) => points.some((p) => typeof p.nodes[node]?.p50Ms === 'number'));
  $('latency-note').textContent =
    withLatency.length > 0
      ? `from each node's dkv_request_duration_seconds histogram (dkv.${s.cluster}.node.<ID>.metrics), over each poll interval`
      : `no node answers dkv.${s.cluster}.node.<ID>.metrics yet: no latency to show (throughput above comes from the status counters)`;
  drawChart(
    'chart-latency',
    xs,
    withLatency.flatMap((node) => [
      { label: `${node} p50`, color: colorOf(node), values: points.map((p) => p.nodes[node]?.p50Ms ?? null) },
      { label: `${node} p99`, color: colorOf(node), dash: [4, 3], values: points.map((p) => p.nodes[node]?.p99Ms ?? null) },
    ]),
    { yLabel: 'ms' },
  );
  const total = (c) => points.map((p) => { const vs = Object.values(p.nodes).map((n) => n.rates?.[c]).filter((v) => typeof v === 'number'); return vs.length ? vs.reduce((a, b) => a + b, 0) : null; });
  drawChart(
    'chart-repairs',
    xs,
    [
      { label: 'read repairs', color: '#ef6c00', values: total('readRepairs') },
      { label: 'sibling reads', color: '#6a1b9a', values: total('siblingReads') },
    ],
    { yLabel: '/s' },
  );
}

// ---------------------------------------------------------------------------------------------

async function refresh() {
  try {
    const res = await fetch('/api/state', { cache: 'no-store' });
    const s = await res.json();
    renderSummary(s);
    if (s.status) {
      renderNodes(s.status);
      renderViews(s.status);
      renderTransfers(s.status);
      renderDecisions(s.status);
    }
    renderRing(s);
    renderCharts(s);
    document.body.dataset.ready = 'true';
  } catch (err) {
    const box = $('status-error');
    box.hidden = false;
    box.textContent = `the dashboard server does not answer: ${err.message}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
