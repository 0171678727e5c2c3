document.getElementById('rid').textContent = REPORT_ID;
const $ = (id) => document.getElementById(id);
function row(cells, tag) { const tr = document.createElement('tr'); cells.forEach(c => { const td = document.createElement(tag || 'td'); td.textContent = c === null || c === undefined ? '' : String(c); tr.appendChild(td); }); return tr; }
async function refresh() {
  const res = await fetch('/api/reports/' + encodeURIComponent(REPORT_ID), {cache: 'no-store'});
  if (!res.ok) { $('status').textContent = res.status === 404 ? 'no such report (yet)' : 'API answered ' + res.status; return; }
  const d = await res.json(); $('status').textContent = 'received ' + d.received_at + ', routed ' + (d.routed_at || '-');
  const r = $('recipients'); r.replaceChildren(row(['kind', 'agency', 'state', 'attempts', 'deadline', 'delivered', 'acknowledged'], 'th'));
  d.recipients.forEach(n => { const tr = row([n.recipient_kind, n.agency_name + ' (' + n.agency_id + ')', n.state, n.attempts, n.deadline_at, n.delivered_at, n.acknowledged_at]); tr.dataset.agency = n.agency_id; tr.dataset.state = n.state; r.appendChild(tr); });
  const t = $('timeline'); t.replaceChildren(row(['time', 'event', 'by', 'kind', 'agency', 'notification', 'detail'], 'th'));
  d.timeline.forEach(e => t.appendChild(row([e.at, e.event, e.actor, e.recipient_kind, e.agency_id, e.notification_id, e.detail])));
}
refresh(); setInterval(refresh, 1000);
