'use strict';
/* global $, el, secs, clockTime, reportLink, stateBadge, changed, fillRows, emptyRow, uPlot */
// The on-call page: banners first, then the work lists (server-side filters and pages), then charts and counts.
const PAGE = 25;
const lists = {
  clocks: {view: 'clocks', offset: 0, total: 0, form: 'clocks-filters', tbody: '#clock-list tbody', range: 'clocks-range'},
  dead: {view: 'dead_letters', offset: 0, total: 0, form: 'dead-filters', tbody: '#dead-list tbody', range: 'dead-range'},
};

async function getJson(url) {
  const res = await fetch(url, {cache: 'no-store'});
  if (!res.ok) throw new Error('API answered ' + res.status);
  return res.json();
}
async function post(url, body) {
  const res = await fetch(url, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
  const data = await res.json().catch(() => ({}));
  $('action-result').textContent = res.ok
    ? (data.redriven ? 'Redriven: ' + (data.redriven.length ? data.redriven.join(', ') : 'nothing (already fixed)') : 'Done: ' + (data.agency_id || ''))
    : 'Refused: ' + res.status + (data.detail ? ' ' + JSON.stringify(data.detail) : '');
  refreshAll();
}
function button(label, testid, onclick, described) {
  const b = el('button', label); b.type = 'button'; b.dataset.testid = testid; b.addEventListener('click', onclick);
  if (described) b.setAttribute('aria-label', label + ' ' + described);
  return b;
}

// ---- banners ---------------------------------------------------------------------------------------------
function renderBanners(d) {
  const ul = $('banners');
  if (!changed(ul, d.urgent)) return;
  ul.replaceChildren();
  if (!d.urgent.length) {
    const li = el('li', null, 'banner ok'); li.dataset.testid = 'all-well';
    li.textContent = 'All well: no deadline missed or at risk, no dead letter, every endpoint and service up.';
    ul.appendChild(li); return;
  }
  d.urgent.forEach((b) => {
    const li = el('li', null, 'banner ' + b.severity); li.dataset.banner = b.key;
    const a = el('a', b.title); a.href = b.href; a.addEventListener('click', (e) => followBanner(e, b.href));
    li.appendChild(a); ul.appendChild(li);
  });
}
function followBanner(e, href) {
  const url = new URL(href, location.href);
  if (url.pathname !== location.pathname) return;
  e.preventDefault();
  history.replaceState(null, '', url.search + url.hash);
  applyUrl();
  const target = document.querySelector(url.hash);
  if (target) { target.scrollIntoView(); const h = target.querySelector('h2, h3'); if (h) h.focus(); }
}

// ---- work lists --------------------------------------------------------------------------------------------
function query(name) {
  const l = lists[name]; const p = new URLSearchParams({view: l.view, limit: PAGE, offset: l.offset});
  new FormData($(l.form)).forEach((v, k) => { if (String(v).trim()) p.set(k, String(v).trim()); });
  return p;
}
function renderRange(name) {
  const l = lists[name]; const last = Math.min(l.offset + PAGE, l.total);
  $(l.range).textContent = l.total ? (l.offset + 1) + '–' + last + ' of ' + l.total : 'none';
  const nav = $(l.range).parentElement;
  nav.querySelector('[data-page=prev]').disabled = l.offset === 0;
  nav.querySelector('[data-page=next]').disabled = last >= l.total;
}
async function refreshList(name) {
  const l = lists[name];
  const data = await getJson('/api/notifications?' + query(name));
  l.total = data.total;
  const filtered = [...new FormData($(l.form)).entries()].some(([k, v]) => String(v).trim() && !(k === 'due' && v === 'any'));
  $(l.form).closest('section').classList.toggle('quiet', !data.total && !filtered && l.offset === 0);
  if (l.offset >= l.total && l.offset > 0) { l.offset = Math.max(0, Math.floor((l.total - 1) / PAGE) * PAGE); return refreshList(name); }
  renderRange(name);
  const tbody = document.querySelector(l.tbody);
  const sig = name === 'clocks' ? data.items.map((i) => [i.notification_id, i.state, Math.round(i.seconds_left / 10)]) : data.items.map((i) => [i.notification_id, i.attempts]);
  if (!changed(tbody, {sig, total: data.total})) return;
  if (!data.items.length) { emptyRow(tbody, name === 'clocks' ? 5 : 6, name === 'clocks' ? 'No open clock matches.' : 'No dead letter matches.'); return; }
  if (name === 'clocks') {
    fillRows(tbody, ['Time left', 'Agency', 'Kind', 'State', 'Report'], data.items.map((i) => ({
      attrs: {'data-notification': i.notification_id, 'data-agency': i.agency_id, class: i.seconds_left < 0 ? 'missed' : i.at_risk ? 'at-risk' : ''},
      cells: [timeLeft(i), agencyCell(i), i.recipient_kind, stateBadge(i.state), reportLink(i.report_id)],
    })));
  } else {
    fillRows(tbody, ['Agency', 'Kind', 'Attempts', 'Reason', 'Report', 'Redrive'], data.items.map((x) => ({
      attrs: {'data-notification': x.notification_id, 'data-agency': x.agency_id},
      cells: [agencyCell(x), x.recipient_kind, x.attempts, x.reason, reportLink(x.report_id), redriveButtons(x)],
    })));
  }
}
function timeLeft(i) {
  const s = el('span', null, 'left');
  s.appendChild(el('strong', i.seconds_left < 0 ? 'missed by ' + secs(-i.seconds_left) : secs(i.seconds_left)));
  s.appendChild(el('small', ' due ' + clockTime(i.deadline_at) + ' (' + i.clock_hours + ' h clock)'));
  return s;
}
function agencyCell(i) {
  const s = el('span'); s.appendChild(el('span', i.agency_name)); s.appendChild(el('small', ' ' + i.agency_id, 'muted')); return s;
}
function redriveButtons(x) {
  const s = el('span', null, 'actions');
  s.appendChild(button('redrive', 'redrive-' + x.notification_id, () => post('/api/redrive', {notification_id: x.notification_id})));
  s.appendChild(button('all of agency', 'redrive-agency-' + x.agency_id, () => post('/api/redrive', {agency_id: x.agency_id}), x.agency_id));
  return s;
}
function setupList(name) {
  const l = lists[name]; const form = $(l.form); let timer = null;
  const again = () => { l.offset = 0; syncUrl(); refreshList(name).catch(showError); };
  form.addEventListener('submit', (e) => { e.preventDefault(); again(); });
  form.addEventListener('change', again);
  form.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(again, 300); });
  $(l.range).parentElement.addEventListener('click', (e) => {
    const dir = e.target.dataset && e.target.dataset.page; if (!dir) return;
    l.offset = Math.max(0, l.offset + (dir === 'next' ? PAGE : -PAGE)); refreshList(name).catch(showError);
  });
}
// The clock list's filter lives in the address, so a banner (or a colleague) can link straight to it.
function applyUrl() {
  const p = new URLSearchParams(location.search); const form = $('clocks-filters');
  ['q', 'due', 'kind', 'state', 'agency'].forEach((k) => { const f = form.elements[k]; if (f) f.value = p.get(k) || (k === 'due' ? 'any' : ''); });
  lists.clocks.offset = 0; refreshList('clocks').catch(showError);
}
function syncUrl() {
  const p = new URLSearchParams();
  new FormData($('clocks-filters')).forEach((v, k) => { if (String(v).trim() && !(k === 'due' && v === 'any')) p.set(k, String(v).trim()); });
  const s = p.toString(); history.replaceState(null, '', (s ? '?' + s : location.pathname) + location.hash);
}

// ---- endpoints, services, lag, kinds ----------------------------------------------------------------------
function renderEndpoints(d) {
  const box = $('endpoint-list');
  if (!changed(box, [d.open_breakers, d.disabled_endpoints])) return;
  box.replaceChildren();
  const calm = !d.open_breakers.length && !d.disabled_endpoints.length;
  $('endpoints').classList.toggle('quiet', calm);
  if (calm) { box.appendChild(el('span', 'Every endpoint enabled, no open circuit.', 'muted')); return; }
  const ul = el('ul', null, 'plain');
  d.open_breakers.forEach((b) => { const li = el('li'); li.dataset.breaker = b.agency_id; li.appendChild(el('strong', 'Open circuit ')); li.appendChild(el('span', b.agency_id + ' (' + b.service + ')')); ul.appendChild(li); });
  d.disabled_endpoints.forEach((e) => {
    const li = el('li'); li.dataset.disabled = e.agency_id;
    li.appendChild(el('strong', 'Disabled ')); li.appendChild(el('span', e.agency_id + ' since ' + clockTime(e.changed_at) + ' (' + (e.reason || '') + ') '));
    li.appendChild(button('re-enable', 'enable-' + e.agency_id, () => post('/api/endpoints/' + encodeURIComponent(e.agency_id) + '/enable', {}), e.agency_id));
    ul.appendChild(li);
  });
  box.appendChild(ul);
}
function renderHealth(d) {
  const ul = $('service-list');
  if (changed(ul, d.health)) {
    ul.replaceChildren();
    Object.entries(d.health).forEach(([name, state]) => { const li = el('li', name + ': ' + state, 'pill ' + (state === 'up' ? 'good' : 'bad')); li.dataset.service = name; ul.appendChild(li); });
  }
  $('lag-error').textContent = d.lag.error ? 'Lag unavailable: ' + d.lag.error : '';
  const tbody = document.querySelector('#lag-list tbody');
  if (changed(tbody, d.lag.groups)) {
    // Groups that are behind, biggest first; the ones that are caught up in one line.
    const all = Object.entries(d.lag.groups); const behind = all.filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    if (!all.length) emptyRow(tbody, 2, 'No consumer group seen yet.');
    else {
      fillRows(tbody, ['Group', 'Lag (messages)'], behind.map(([g, n]) => ({attrs: {'data-group': g, class: n >= d.lag.alert_at ? 'at-risk' : ''}, cells: [g, n]})));
      const rest = all.length - behind.length;
      if (rest) { const tr = el('tr', null, 'empty'); const td = el('td', (behind.length ? 'The other ' : 'All ') + rest + ' groups caught up (lag 0).'); td.colSpan = 2; tr.appendChild(td); tbody.appendChild(tr); }
    }
  }
  const rc = $('report-counts');
  if (changed(rc, d.reports)) {
    rc.replaceChildren();
    Object.entries(d.reports).forEach(([k, v]) => { const p = el('span', k.replace('_', '-') + ': ' + v, 'pill'); p.dataset.testid = 'reports-' + k; rc.appendChild(p); });
  }
}
// Columns marked optional give way on a phone, so the table fits 390 px without scrolling sideways.
const STATE_COLS = [['pending', 'pending', 1], ['retrying', 'retrying'], ['delivered', 'delivered', 1], ['acknowledged', 'ack\'d'], ['failed', 'failed', 1], ['dead_lettered', 'dead']];
const TIME_COLS = [['deliver_p95_seconds', 'deliver p95', 1], ['ack_p95_seconds', 'ack p95']];
const sorts = {'kind-list': {key: 'recipient_kind', dir: 1}, 'agency-list': {key: 'agency_name', dir: 1}};
let kindRows = [], agencyRows = [], drillKind = null;
function sortableTable(id, columns, rows, firstCell) {
  const table = $(id); const sort = sorts[id];
  const thead = table.tHead; const tr = el('tr');
  columns.forEach(([key, label, optional]) => {
    const th = el('th', null, optional ? 'opt' : ''); th.scope = 'col';
    th.setAttribute('aria-sort', sort.key === key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    const b = el('button', label, 'sort'); b.type = 'button';
    b.addEventListener('click', () => { sort.dir = sort.key === key ? -sort.dir : (key.endsWith('name') || key.endsWith('kind') ? 1 : -1); sort.key = key; redrawTables(); });
    th.appendChild(b); tr.appendChild(th);
  });
  thead.replaceChildren(tr);
  const sorted = [...rows].sort((a, b) => {
    const x = a[sort.key], y = b[sort.key];
    if (x === y) return 0; if (x === null || x === undefined) return 1; if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * sort.dir;
  });
  fillRows(table.tBodies[0], columns.map((c) => c[1]), sorted.map((r) => ({
    attrs: {'data-row': r.agency_id || r.recipient_kind},
    cells: [firstCell(r), ...columns.slice(1).map(([key]) => key.endsWith('seconds') ? secs(r[key]) : r[key])],
  })));
  table.tBodies[0].querySelectorAll('tr').forEach((tr) => columns.forEach((c, i) => { if (c[2]) tr.children[i].className = 'opt'; }));
}
function redrawTables() {
  sortableTable('kind-list', [['recipient_kind', 'Kind'], ['agencies', 'agencies'], ...STATE_COLS, ...TIME_COLS], kindRows, (r) => {
    const b = button(r.recipient_kind, 'kind-' + r.recipient_kind, () => openKind(r.recipient_kind));
    b.className = 'link'; b.setAttribute('aria-expanded', String(drillKind === r.recipient_kind)); b.setAttribute('aria-controls', 'agency-drill');
    return b;
  });
  if (drillKind) {
    sortableTable('agency-list', [['agency_name', 'Agency'], ...STATE_COLS, ...TIME_COLS], agencyRows, (r) => {
      const a = el('a', r.agency_name + ' ' + r.agency_id); a.href = '/?agency=' + encodeURIComponent(r.agency_id) + '#clocks';
      a.addEventListener('click', (e) => followBanner(e, a.href)); return a;
    });
  }
}
async function openKind(kind) {
  if (drillKind === kind) { drillKind = null; $('agency-drill').hidden = true; redrawTables(); return; }
  drillKind = kind;
  const data = await getJson('/api/agencies?kind=' + encodeURIComponent(kind));
  agencyRows = data.agencies;
  $('agency-h').textContent = kind + ': ' + agencyRows.length + ' agencies';
  $('agency-drill').hidden = false; redrawTables(); $('agency-h').focus();
}
function renderKinds(d) {
  if (!changed($('kind-list'), d.kinds)) return;
  kindRows = d.kinds; redrawTables();
}

// ---- charts (uPlot, vendored) -----------------------------------------------------------------------------
const COLORS = ['#0b57d0', '#b3261e', '#146c2e', '#7c3aed', '#a14a00', '#00687a', '#5f6368', '#c2185b', '#3f51b5', '#6d4c41'];
const charts = {};
let chartData = null;
function drawChart(id, series, data, textId, summary) {
  const box = $(id); const width = Math.max(240, box.clientWidth);
  if (charts[id]) { charts[id].destroy(); delete charts[id]; }
  box.replaceChildren();
  const blank = data[0].length < 2 || data.length < 2 || data.slice(1).every((v) => v.every((x) => x === null || x === undefined));
  if (blank) { box.appendChild(el('p', 'No data yet.', 'muted')); $(textId).textContent = 'No data yet.'; return; }
  const opts = {
    width, height: window.innerWidth < 760 ? 130 : 170, series: [{}, ...series.map((s, i) => ({label: s.label, stroke: s.color || COLORS[i % COLORS.length], width: 2, dash: s.dash, spanGaps: true}))],
    axes: [{stroke: '#3c4043', grid: {stroke: '#e4e7eb'}}, {stroke: '#3c4043', grid: {stroke: '#e4e7eb'}, size: 50}],
    legend: {live: false}, cursor: {show: false},
  };
  charts[id] = new uPlot(opts, data, box);
  $(textId).textContent = summary;
}
function renderCharts() {
  const d = chartData; if (!d) return;
  const last = (a) => a.length ? a[a.length - 1] : 0;
  const sum = (a) => a.reduce((x, y) => x + (y || 0), 0);
  drawChart('chart-activity', [{label: 'reports/min'}, {label: 'notifications/min'}], [d.minutes, d.reports, d.notifications],
    'chart-activity-text', 'Over the charted hours: ' + sum(d.reports) + ' reports, ' + sum(d.notifications) + ' notifications; last minute ' + last(d.reports) + ' and ' + last(d.notifications) + '.');
  const sel = $('latency-kind'); const kinds = Object.keys(d.latency.kinds);
  if (changed(sel, kinds)) { const keep = sel.value || 'all'; sel.replaceChildren(...kinds.map((k) => { const o = el('option', k); o.value = k; return o; })); sel.value = kinds.includes(keep) ? keep : 'all'; }
  const k = d.latency.kinds[sel.value] || d.latency.kinds.all;
  drawChart('chart-latency', [
    {label: 'deliver p50', color: COLORS[0]}, {label: 'deliver p95', color: COLORS[0], dash: [6, 4]},
    {label: 'ack p50', color: COLORS[2]}, {label: 'ack p95', color: COLORS[2], dash: [6, 4]},
  ], [d.latency.at, k.deliver_p50, k.deliver_p95, k.ack_p50, k.ack_p95], 'chart-latency-text',
  sel.value + ': latest deliver p95 ' + secs(k.deliver_p95.filter((v) => v !== null).pop()) + ', ack p95 ' + secs(k.ack_p95.filter((v) => v !== null).pop()) + '.');
  const groups = Object.keys(d.lag.groups);
  drawChart('chart-lag', groups.map((g) => ({label: g})), [d.lag.at, ...groups.map((g) => d.lag.groups[g])], 'chart-lag-text',
    'Latest lag: ' + (groups.map((g) => g + ' ' + (last(d.lag.groups[g]) || 0)).join(', ') || 'none') + '.');
}
async function refreshCharts() {
  try { chartData = await getJson('/api/charts'); renderCharts(); } catch (e) { showError(e); }
}

// ---- the loop ---------------------------------------------------------------------------------------------
function showError(e) { $('updated').textContent = String(e.message || e); $('updated').className = 'bad'; }
async function refreshState() {
  const d = await getJson('/api/state');
  renderBanners(d); renderEndpoints(d); renderHealth(d); renderKinds(d);
  $('updated').textContent = 'Updated ' + clockTime(d.generated_at); $('updated').className = 'muted';
}
async function refreshAll() {
  try { await Promise.all([refreshState(), refreshList('clocks'), refreshList('dead')]); } catch (e) { showError(e); }
}
setupList('clocks'); setupList('dead'); applyUrl();
if (window.innerWidth >= 760) document.querySelectorAll('details.more').forEach((d) => { d.open = true; });
$('latency-kind').addEventListener('change', renderCharts);
let resizeTimer = null;
window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderCharts, 200); });
$('open-report').addEventListener('submit', (e) => { e.preventDefault(); location.href = '/reports/' + encodeURIComponent($('rid').value.trim()); });
refreshAll(); refreshCharts();
setInterval(refreshAll, 2000); setInterval(refreshCharts, 15000);
