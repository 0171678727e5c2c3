'use strict';
/* global $, el, secs, clockTime, dateTime, reportLink, stateBadge, changed */
// One report: its recipients with their clocks, the story as a vertical timeline, and its linked reports.
const REPORT_ID = decodeURIComponent(location.pathname.split('/').pop());
const EVENTS = {
  received: 'Received from Careline', accepted: 'Accepted by intake', routed: 'Routed',
  notification_created: 'Notification created', delivery_attempt: 'Delivery attempt', delivered: 'Delivered',
  acknowledged: 'Acknowledged', ack_repeated: 'Acknowledged again', deadline_met: 'Deadline met',
  renotified: 'Re-notified', escalated: 'Escalated', deadline_missed: 'Deadline missed',
  ops_redrive: 'Redriven by ops', ops_endpoint_enabled: 'Endpoint re-enabled by ops',
};
const BAD = new Set(['deadline_missed', 'escalated', 'renotified']);
function clock(n, now) {
  if (n.acknowledged_at) {
    const before = (new Date(n.deadline_at) - new Date(n.acknowledged_at)) / 1000;
    return before >= 0
      ? {text: 'met: acknowledged ' + secs(before) + ' before it', cls: 'good'}
      : {text: 'missed: acknowledged ' + secs(-before) + ' after it', cls: 'bad'};
  }
  const left = (new Date(n.deadline_at) - now) / 1000;
  return left < 0 ? {text: 'missed by ' + secs(-left) + ', not acknowledged', cls: 'bad'} : {text: secs(left) + ' left', cls: left < 4 * 3600 ? 'warn' : ''};
}
function renderRecipients(d) {
  const ul = $('recipients'); const now = new Date();
  ul.replaceChildren();
  d.recipients.forEach((n) => {
    const li = el('li', null, 'card'); li.dataset.agency = n.agency_id; li.dataset.state = n.state;
    const head = el('p', null, 'card-head');
    head.appendChild(el('strong', n.agency_name)); head.appendChild(el('span', ' ' + n.recipient_kind + ' · ' + n.agency_id + ' ', 'muted'));
    head.appendChild(stateBadge(n.state)); li.appendChild(head);
    const c = clock(n, now);
    li.appendChild(el('p', 'Deadline ' + dateTime(n.deadline_at) + ': ' + c.text, 'clock ' + c.cls));
    const dl = el('dl', null, 'facts');
    [['Delivered', n.delivered_at ? clockTime(n.delivered_at) : 'not yet'], ['Acknowledged', n.acknowledged_at ? clockTime(n.acknowledged_at) : 'not yet'], ['Attempts', n.attempts]]
      .forEach(([k, v]) => { const w = el('div'); w.appendChild(el('dt', k)); w.appendChild(el('dd', v)); dl.appendChild(w); });
    li.appendChild(dl); ul.appendChild(li);
  });
}
function renderTimeline(d) {
  const ol = $('timeline'); ol.replaceChildren();
  const sel = $('timeline-agency'); const agencies = [...new Set(d.recipients.map((n) => n.agency_id))];
  if (changed(sel, agencies)) {
    const keep = sel.value; const all = el('option', 'all'); all.value = '';
    sel.replaceChildren(all, ...agencies.map((a) => { const o = el('option', a); o.value = a; return o; }));
    sel.value = agencies.includes(keep) ? keep : '';
  }
  // Agency ids here (the names are on the cards above): one line per step, also on a phone.
  d.timeline.filter((e) => !sel.value || !e.agency_id || e.agency_id === sel.value).forEach((e) => {
    const li = el('li', null, 'step ' + (BAD.has(e.event) ? 'bad' : e.event === 'acknowledged' ? 'good' : ''));
    li.dataset.event = e.event;
    const t = el('time', clockTime(e.at)); t.dateTime = e.at; li.appendChild(t);
    const what = el('p', null, 'what');
    what.appendChild(el('strong', EVENTS[e.event] || e.event.replace(/_/g, ' ')));
    if (e.agency_id) what.appendChild(el('span', ' · ' + e.agency_id + (e.recipient_kind && !e.agency_id.startsWith(e.recipient_kind) ? ' (' + e.recipient_kind + ')' : '')));
    if (e.actor) what.appendChild(el('span', ' ' + e.actor, 'who'));
    li.appendChild(what);
    if (e.detail) li.appendChild(el('p', e.detail.replace(/(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?\+00:00/g, '$1 $2 UTC'), 'detail'));
    li.appendChild(el('span', e.event, 'vh'));
    ol.appendChild(li);
  });
}
function renderLinked(d) {
  // The directory adds linked_reports to this API; until it does (or when there are none) say so.
  const box = $('linked'); box.replaceChildren();
  const linked = Array.isArray(d.linked_reports) ? d.linked_reports : [];
  if (!linked.length) { box.appendChild(el('p', 'No linked reports.', 'muted')); return; }
  const ul = el('ul', null, 'plain');
  linked.forEach((r) => {
    const id = typeof r === 'string' ? r : r.report_id; if (!id) return;
    const li = el('li'); li.appendChild(reportLink(id));
    const why = typeof r === 'object' ? (r.relation || r.link || r.kind) : null;
    if (why) li.appendChild(el('span', ' ' + why, 'muted'));
    ul.appendChild(li);
  });
  box.appendChild(ul);
}
async function refresh() {
  let res;
  try { res = await fetch('/api/reports/' + encodeURIComponent(REPORT_ID), {cache: 'no-store'}); } catch (e) { $('status').textContent = 'API unreachable'; return; }
  if (!res.ok) { $('status').textContent = res.status === 404 ? 'No such report (yet): waiting for it to be routed.' : 'API answered ' + res.status; return; }
  const d = await res.json();
  if (!changed($('main'), [d, Math.floor(Date.now() / 10000)])) return;
  const waiting = d.recipients.filter((n) => n.state !== 'acknowledged').length;
  $('status').textContent = 'Received ' + dateTime(d.received_at) + ', routed ' + (d.routed_at ? clockTime(d.routed_at) : '-') + ', policy ' + d.policy_version + '. ' +
    (waiting ? waiting + ' of ' + d.recipients.length + ' recipients not acknowledged yet.' : 'All ' + d.recipients.length + ' recipients acknowledged.');
  last = d; renderRecipients(d); renderTimeline(d); renderLinked(d);
}
let last = null;
$('timeline-agency').addEventListener('change', () => { if (last) renderTimeline(last); });
refresh(); setInterval(refresh, 2000);
