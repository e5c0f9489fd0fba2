// Small dependency-free SVG charts: sparklines and bar series.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** A sparkline of `values` (numbers) in an SVG of width×height. */
export function sparkline(values, { width = 120, height = 28, label = '' } = {}) {
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'spark' });
  const title = el('title', {});
  title.textContent = label;
  svg.append(title);
  if (values.length === 1) values = [values[0], values[0]];
  const max = Math.max(1, ...values);
  const n = values.length;
  if (n === 0) return svg;
  const x = (i) => (n === 1 ? width : (i * (width - 2)) / (n - 1) + 1);
  const y = (v) => height - 2 - (v / max) * (height - 4);
  const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  svg.append(el('polyline', { points: pts, fill: 'none', class: 'spark-line', 'stroke-width': 1.5 }));
  svg.append(el('circle', { cx: x(n - 1), cy: y(values[n - 1]), r: 2, class: 'spark-dot' }));
  return svg;
}

/** Vertical bars of `values`, newest on the right. */
export function bars(values, { width = 240, height = 40, label = '' } = {}) {
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'bars' });
  const title = el('title', {});
  title.textContent = label;
  svg.append(title);
  const max = Math.max(1, ...values);
  const n = Math.max(values.length, 1);
  const w = width / n;
  values.forEach((v, i) => {
    const h = v === 0 ? 1 : Math.max(2, (v / max) * (height - 2));
    svg.append(el('rect', { x: (i * w + 1).toFixed(1), y: (height - h).toFixed(1), width: Math.max(1, w - 2).toFixed(1), height: h.toFixed(1), class: v ? 'bar' : 'bar empty' }));
  });
  return svg;
}
