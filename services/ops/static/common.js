'use strict';
// Helpers shared by the dashboard and the report page. Values go in with textContent only: never markup.
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function secs(s) {
  if (s === null || s === undefined) return '-';
  s = Math.round(s); const neg = s < 0; s = Math.abs(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
  const parts = d ? [d + 'd', h + 'h'] : h ? [h + 'h', m + 'm'] : m ? [m + 'm', r + 's'] : [r + 's'];
  return (neg ? '-' : '') + parts.join(' ');
}
function clockTime(iso) {
  if (!iso) return '-';
  const d = new Date(iso);
  return d.toISOString().slice(11, 19) + ' UTC';
}
function dateTime(iso) {
  if (!iso) return '-';
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
}
function reportLink(id) { const a = el('a', id); a.href = '/reports/' + encodeURIComponent(id); return a; }
function stateBadge(state) { return el('span', String(state).replace('_', '-'), 'badge s-' + state); }
// Redraw a region only when its data changed, so focus, a hovered button and screen readers are left in peace.
function changed(node, data) {
  const sig = JSON.stringify(data);
  if (node.dataset.sig === sig) return false;
  node.dataset.sig = sig; return true;
}
// Table rows that become labelled cards on a phone: each cell carries its column's name.
function fillRows(tbody, headers, rows) {
  tbody.replaceChildren();
  rows.forEach((r) => {
    const tr = el('tr');
    if (r.attrs) Object.entries(r.attrs).forEach(([k, v]) => tr.setAttribute(k, v));
    r.cells.forEach((c, i) => {
      const td = el('td'); td.dataset.label = headers[i];
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? '' : String(c);
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  });
}
function emptyRow(tbody, cols, text) {
  const tr = el('tr', null, 'empty'); const td = el('td', text); td.colSpan = cols; tr.appendChild(td);
  tbody.replaceChildren(tr);
}
