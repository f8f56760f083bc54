// cachecyt dashboard charts: a small line chart on a <canvas>, written for
// this page (no library, nothing fetched from elsewhere). drawChart(canvas,
// times, series, fmt) draws one or more series over shared unix times; null
// values leave gaps. After drawing, the canvas carries data-points,
// data-last and data-max (of its first series) so tests and scripts can read
// what it shows.
"use strict";

const PALETTE = ["#2f7ed8", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#555555"];

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawChart(canvas, times, series, fmt) {
  fmt = fmt || (v => String(Math.round(v * 100) / 100));
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 480, h = canvas.clientHeight || 180;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const left = 64, right = 8, top = 8, bottom = 22;
  const pw = w - left - right, ph = h - top - bottom;
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const ymax = niceMax(max);
  const t0 = times.length ? times[0] : 0, t1 = times.length ? times[times.length - 1] : 1;
  const x = t => left + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * pw;
  const y = v => top + ph - (v / ymax) * ph;
  ctx.font = "11px sans-serif";
  ctx.strokeStyle = "#ddd";
  ctx.fillStyle = "#666";
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4, yy = Math.round(y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(left + pw, yy); ctx.stroke();
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ctx.fillText(fmt(v), left - 6, yy);
  }
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  if (times.length) {
    for (const t of [t0, (t0 + t1) / 2, t1]) {
      ctx.fillText(new Date(t * 1000).toLocaleTimeString(), Math.min(Math.max(x(t), left + 30), left + pw - 30), top + ph + 6);
    }
  }
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color || PALETTE[k % PALETTE.length];
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      if (pen) ctx.lineTo(x(times[i]), y(v)); else ctx.moveTo(x(times[i]), y(v));
      pen = true;
    });
    ctx.stroke();
  });
  const first = series.length ? series[0].values.filter(v => v !== null) : [];
  canvas.dataset.points = String(first.length);
  canvas.dataset.last = first.length ? String(first[first.length - 1]) : "";
  canvas.dataset.max = String(first.length ? Math.max(...first) : 0);
}
