const $ = (id) => document.getElementById(id);
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; }
function table(id, headers, rows, source) {
  // Redraw only what changed, so a button someone is about to click is not replaced under their pointer.
  const t = $(id); const sig = JSON.stringify(source === undefined ? rows : source);
  if (t.dataset.sig === sig) return;
  t.dataset.sig = sig; t.replaceChildren();
  const h = el('tr'); headers.forEach(x => h.appendChild(el('th', x))); t.appendChild(h);
  rows.forEach(r => { const tr = el('tr'); r.forEach(c => { const td = el('td'); if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? '' : String(c); tr.appendChild(td); }); t.appendChild(tr); });
}
function secs(s) { if (s === null || s === undefined) return '-'; s = Math.round(s); const neg = s < 0; s = Math.abs(s);
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
  return (neg ? '-' : '') + (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + r + 's'; }
async function post(url, body) {
  const res = await fetch(url, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
  const data = await res.json().catch(() => ({}));
  $('action-result').textContent = res.ok ? ('done: ' + JSON.stringify(data)) : ('refused: ' + res.status);
  refresh();
}
function button(label, testid, onclick) { const b = el('button', label); b.dataset.testid = testid; b.onclick = onclick; return b; }
function chart(history) {
  const svg = $('lag-chart'); svg.replaceChildren(); const W = 600, H = 120;
  if (history.length < 2) return;
  const t0 = history[0].at, t1 = history[history.length - 1].at;
  const total = history.map(p => Object.values(p.lag).reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...total);
  const pts = history.map((p, i) => [((p.at - t0) / Math.max(1, t1 - t0)) * W, H - (total[i] / max) * (H - 10)]);
  const ns = 'http://www.w3.org/2000/svg';
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', pts.map(p => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' '));
  line.setAttribute('fill', 'none'); line.setAttribute('stroke', '#1f6feb'); line.setAttribute('stroke-width', '2');
  svg.appendChild(line);
  const label = document.createElementNS(ns, 'text'); label.setAttribute('x', '4'); label.setAttribute('y', '12');
  label.setAttribute('font-size', '11'); label.textContent = 'total lag, max ' + max + ' (last 15 min)'; svg.appendChild(label);
}
function render(d) {
  const health = $('health'); health.replaceChildren();
  Object.entries(d.health).forEach(([name, state]) => { const p = el('span', name + ': ' + state, 'pill ' + state); p.dataset.service = name; health.appendChild(p); });
  table('lag', ['group', 'topic', 'partition', 'committed', 'log end', 'lag'], d.lag.partitions.filter(p => p.lag > 0 || p.partition === 0).map(p => [p.group, p.topic, p.partition, p.committed, p.log_end, p.lag]));
  $('lag-error').textContent = d.lag.error ? ('lag unavailable: ' + d.lag.error) : '';
  chart(d.lag.history);
  const rc = $('report-counts'); rc.replaceChildren();
  Object.entries(d.reports).forEach(([k, v]) => { const p = el('span', k.replace('_', '-') + ': ' + v, 'pill'); p.dataset.testid = 'reports-' + k; rc.appendChild(p); });
  table('recipients', ['kind', 'agency', 'pending', 'retrying', 'delivered', 'acknowledged', 'dead-lettered', 'deliver p50/p95', 'ack p50/p95'],
    d.recipients.map(r => [r.recipient_kind, r.agency_name + ' (' + r.agency_id + ')', r.pending, r.retrying, r.delivered, r.acknowledged, r.dead_lettered,
      secs(r.deliver_p50_seconds) + ' / ' + secs(r.deliver_p95_seconds), secs(r.ack_p50_seconds) + ' / ' + secs(r.ack_p95_seconds)]));
  const h = d.needs_a_human;
  table('clocks', ['time left', 'clock', 'kind', 'agency', 'state', 'report'], h.clocks.map(i => [el('span', secs(i.seconds_left), i.at_risk ? 'risk' : ''), i.clock_hours + ' h', i.recipient_kind, i.agency_id, i.state, reportLink(i.report_id)]), h.clocks.map(i => [Math.round(i.seconds_left / 5), i.state, i.notification_id]));
  table('missed', ['overdue by', 'kind', 'agency', 'state', 'report'], h.missed.map(i => [secs(-i.seconds_left), i.recipient_kind, i.agency_id, i.state, reportLink(i.report_id)]), h.missed);
  table('breakers', ['notifier', 'agency'], h.open_breakers.map(b => [b.service, b.agency_id]));
  table('disabled', ['agency', 'reason', 'since', ''], h.disabled_endpoints.map(e => [e.agency_id, e.reason, e.changed_at, button('re-enable', 'enable-' + e.agency_id, () => post('/api/endpoints/' + encodeURIComponent(e.agency_id) + '/enable', {}))]), h.disabled_endpoints);
  table('dead-letters', ['notification', 'kind', 'agency', 'attempts', 'reason', 'report', '', ''], h.dead_letters.map(x => [x.notification_id, x.recipient_kind, x.agency_id, x.attempts, x.reason, reportLink(x.report_id),
    button('redrive', 'redrive-' + x.notification_id, () => post('/api/redrive', {notification_id: x.notification_id})),
    button('redrive agency', 'redrive-agency-' + x.agency_id, () => post('/api/redrive', {agency_id: x.agency_id}))]), h.dead_letters);
  $('updated').textContent = 'updated ' + d.generated_at;
}
function reportLink(id) { const a = el('a', id); a.href = '/reports/' + encodeURIComponent(id); return a; }
async function refresh() {
  try { const res = await fetch('/api/state', {cache: 'no-store'}); if (res.ok) render(await res.json()); else $('updated').textContent = 'API answered ' + res.status; }
  catch (e) { $('updated').textContent = 'API unreachable'; }
}
refresh(); setInterval(refresh, 1000);
document.getElementById('open-report').addEventListener('submit', (e) => {
  e.preventDefault(); location.href = '/reports/' + encodeURIComponent(e.target.rid.value.trim());
});
