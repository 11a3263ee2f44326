// Charts for the report pages, drawn as inline SVG with no library.
// Every chart takes plain data and a container element and replaces the container's content;
// they redraw on resize. Text goes in with textContent only. Times are the reader's local
// time: tick labels leave the zone out and the axis title names it once.
import {formatDateTime, formatMoney, formatMoneyShort, formatPercent, localZoneName} from "./format.js";
import {has, locale, t} from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
const COLORS = {viewers: "#7c3aed", viewersFill: "rgba(124, 58, 237, .12)", gmv: "#ff2d55",
                orders: "#17151c", pin: "#f59e0b", grid: "#ece9f2", text: "#6b6778",
                refund: "rgba(255, 45, 85, .35)"};

export function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A scale from 0 with round steps (1, 2, 2.5, 5 times a power of ten; integers only where
 * `integer`), about `target` of them: counts get 0, 1, 2, 3 rather than 0, 1.67, 3.33.
 */
export function niceScale(maxValue, {target = 4, integer = true, floor = 1} = {}) {
  const top = Math.max(maxValue, floor);
  const raw = top / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const steps = integer ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  let step = steps.map((s) => s * power).find((s) => s >= raw) || 10 * power;
  if (integer) step = Math.max(1, Math.round(step));
  const max = Math.ceil(top / step) * step;
  const ticks = [];
  for (let value = 0; value <= max + step / 2; value += step) ticks.push(value);
  return {max, ticks};
}

/** A tick or a tooltip's clock time, local. */
function clock(value, zone = false) {
  return formatDateTime(value, {date: false, zone});
}

function widthOf(container, fallback) {
  return Math.max(320, Math.floor(container.clientWidth || fallback));
}

function truncate(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/** Truncate to `units` half-width characters: a CJK character takes two. */
function truncateWide(text, units) {
  let used = 0;
  const chars = [...text];
  for (let i = 0; i < chars.length; i += 1) {
    used += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(chars[i]) ? 2 : 1;
    if (used > units) return `${chars.slice(0, Math.max(1, i - 1)).join("")}…`;
  }
  return text;
}

function frame(container, width, height, label) {
  const root = svg("svg", {viewBox: `0 0 ${width} ${height}`, width, height, class: "ops-svg",
                           "aria-label": label, role: "img"});
  container.replaceChildren(root);
  return root;
}

/** Viewers (top band), GMV bars and orders (bottom band) per minute, pins marked across both. */
export function timelineChart(container, report) {
  const rows = report.timeline;
  const currency = report.summary.currency;
  const titles = new Map(report.products.map((p) => [p.product_id, p.title]));
  const width = widthOf(container, 900);
  const height = 352;
  const m = {left: 56, right: 70, top: 46, bottom: 30, gap: 24};
  const plotW = width - m.left - m.right;
  const bandA = {top: m.top, height: 120};
  const bandB = {top: m.top + bandA.height + m.gap, height: height - m.top - m.bottom - bandA.height - m.gap};
  const root = frame(container, width, height, t("chart.timeline"));
  if (!rows.length) {
    root.append(svg("text", {x: width / 2, y: height / 2, "text-anchor": "middle", class: "ops-svg-empty"}, t("chart.no_minutes")));
    return;
  }
  const step = plotW / rows.length;
  const x = (i) => m.left + i * step;
  const viewerScale = niceScale(Math.max(...rows.map((r) => r.viewers)), {target: 3});
  const gmvScale = niceScale(Math.max(...rows.map((r) => r.gmv_minor)), {target: 3, integer: false, floor: 100});
  const orderScale = niceScale(Math.max(...rows.map((r) => r.orders)), {target: 3});
  const maxViewers = viewerScale.max;
  const maxGmv = gmvScale.max;
  const maxOrders = orderScale.max;
  const yA = (v) => bandA.top + bandA.height - (v / maxViewers) * bandA.height;
  const yB = (v) => bandB.top + bandB.height - (v / maxGmv) * bandB.height;
  const yO = (v) => bandB.top + bandB.height - (v / maxOrders) * bandB.height;

  // Grid and axes.
  for (const value of viewerScale.ticks) {
    root.append(svg("line", {x1: m.left, x2: m.left + plotW, y1: yA(value), y2: yA(value), class: "ops-grid"}));
    root.append(svg("text", {x: m.left - 8, y: yA(value) + 4, "text-anchor": "end", class: "ops-axis"}, String(Math.round(value))));
  }
  for (const value of gmvScale.ticks) {
    root.append(svg("line", {x1: m.left, x2: m.left + plotW, y1: yB(value), y2: yB(value), class: "ops-grid"}));
    root.append(svg("text", {x: m.left + plotW + 8, y: yB(value) + 4, class: "ops-axis"}, formatMoneyShort(value, currency)));
  }
  for (const value of orderScale.ticks) {
    root.append(svg("text", {x: m.left - 8, y: yO(value) + 4, "text-anchor": "end", class: "ops-axis"}, String(value)));
  }
  root.append(svg("text", {x: 2, y: bandA.top - 10, class: "ops-axis ops-axis-title"}, t("chart.viewers")));
  root.append(svg("text", {x: 2, y: bandB.top - 8, class: "ops-axis ops-axis-title"}, t("chart.orders")));
  root.append(svg("text", {x: m.left + plotW + 8, y: bandB.top - 8, class: "ops-axis ops-axis-title"}, t("chart.gmv")));

  // Pin spans shade the viewers band; a dashed line and a flag mark each pin.
  const first = Date.parse(rows[0].minute);
  const msX = (iso) => m.left + ((Date.parse(iso) - first) / 60000) * step;
  const pinLayer = svg("g", {class: "ops-pins-layer"});
  // Two rows of flags, taken in turn, and each flag no wider than the gap to the next flag of
  // its row (the pin after next): pins close together never cover each other's label.
  const starts = report.pins.map((pin) => Math.max(m.left, msX(pin.from)));
  report.pins.forEach((pin, index) => {
    const from = starts[index];
    const to = Math.min(m.left + plotW, msX(pin.to));
    const title = titles.get(pin.product_id) || pin.title || `#${pin.product_id}`;
    const row = index % 2;
    const limit = index + 2 < starts.length ? starts[index + 2] - from - 4 : m.left + plotW + m.right - from;
    const maxW = Math.max(16, Math.min(140, limit));
    const label = truncateWide(title, Math.max(1, Math.floor((maxW - 10) / 6.2)));
    const flagW = Math.min(maxW, 10 + [...label].length * 6.2);
    const flagY = bandA.top - 38 + row * 17;
    pinLayer.append(svg("rect", {x: from, y: bandA.top, width: Math.max(1, to - from), height: bandA.height, class: "ops-pin-span"}));
    pinLayer.append(svg("line", {x1: from, x2: from, y1: flagY, y2: bandB.top + bandB.height, class: "ops-pin-line", "data-testid": "pin-marker"}));
    const flag = svg("g", {class: "ops-pin-flag", transform: `translate(${from.toFixed(1)}, ${flagY})`});
    flag.append(svg("rect", {x: 0, y: 0, width: flagW, height: 15, rx: 3, class: "ops-pin-flagbox"}),
                svg("text", {x: 5, y: 11, class: "ops-pin-text"}, label),
                svg("title", {}, t("chart.pinned_tip", {title, from: clock(pin.from), to: clock(pin.to, true)})));
    pinLayer.append(flag);
  });
  root.append(pinLayer);
  if (report.room.ended_at) {
    // Payments and refunds can land after the end: mark where the broadcast stopped.
    const endX = msX(report.room.ended_at);
    if (endX < m.left + plotW - 1) {
      root.append(svg("line", {x1: endX, x2: endX, y1: bandA.top, y2: bandB.top + bandB.height, class: "ops-end-line"}));
      root.append(svg("text", {x: endX + 4, y: bandA.top + 11, class: "ops-axis ops-end-text"}, t("chart.ended")));
    }
  }

  // Viewers: area and line, one point per minute centre.
  const points = rows.map((r, i) => [x(i) + step / 2, yA(r.viewers)]);
  const line = points.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join("");
  const base = bandA.top + bandA.height;
  root.append(svg("path", {d: `${line}L${points[points.length - 1][0].toFixed(1)},${base}L${points[0][0].toFixed(1)},${base}Z`, class: "ops-viewers-area"}));
  root.append(svg("path", {d: line, class: "ops-viewers-line", "data-testid": "viewers-line"}));

  // GMV bars, refunds as a thin marker below the axis line.
  const bars = svg("g", {"data-testid": "gmv-bars"});
  rows.forEach((r, i) => {
    if (r.gmv_minor > 0) {
      const top = yB(r.gmv_minor);
      bars.append(svg("rect", {x: x(i) + step * 0.18, y: top, width: Math.max(1, step * 0.64), height: bandB.top + bandB.height - top, rx: Math.min(3, step * 0.2), class: "ops-gmv-bar"}));
    }
  });
  root.append(bars);
  // Orders placed: a dark line with dots.
  const orderPoints = rows.map((r, i) => [x(i) + step / 2, yO(r.orders), r.orders]);
  root.append(svg("path", {d: orderPoints.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join(""), class: "ops-orders-line"}));
  for (const [px, py, n] of orderPoints) {
    if (n > 0) root.append(svg("circle", {cx: px, cy: py, r: 3, class: "ops-orders-dot"}));
  }

  // X axis: a label every few minutes, so that labels never overlap ("8:05 PM" is ~48 px),
  // in the reader's zone, named once at the axis's start.
  const every = Math.max(1, Math.ceil(56 / step));
  root.append(svg("text", {x: 2, y: height - 10, class: "ops-axis ops-axis-title"}, localZoneName()));
  rows.forEach((r, i) => {
    if (i % every === 0) {
      root.append(svg("text", {x: x(i) + step / 2, y: height - 10, "text-anchor": "middle", class: "ops-axis"}, clock(r.minute)));
    }
  });
  root.append(svg("line", {x1: m.left, x2: m.left + plotW, y1: bandB.top + bandB.height, y2: bandB.top + bandB.height, class: "ops-baseline"}));
  root.append(svg("line", {x1: m.left, x2: m.left + plotW, y1: base, y2: base, class: "ops-baseline"}));

  // One hover target per minute, with its numbers as a native tooltip.
  const hover = svg("g", {class: "ops-hover"});
  rows.forEach((r, i) => {
    const target = svg("rect", {x: x(i), y: bandA.top, width: step, height: bandB.top + bandB.height - bandA.top, class: "ops-hover-col", "data-minute": r.minute});
    const pins = r.pins.map((id) => titles.get(id) || `#${id}`).join(", ");
    target.append(svg("title", {},
      t("chart.minute_tip", {clock: clock(r.minute, true), viewers: r.viewers, new: r.new_viewers, orders: r.orders,
                             paid: r.paid_orders, gmv: formatMoney(r.gmv_minor, currency)})
      + (r.refunded_minor ? t("chart.minute_refunded", {amount: formatMoney(r.refunded_minor, currency)}) : "")
      + t("chart.minute_activity", {chat: r.chat, likes: r.likes, clicks: r.clicks})
      + (pins ? t("chart.minute_pins", {pins}) : "")));
    hover.append(target);
  });
  root.append(hover);
}

/** Entered -> clicked -> ordered -> paid, as bars with the rate of each step. */
export function funnelChart(container, funnel) {
  const width = widthOf(container, 520);
  const rowH = 46;
  const m = {left: 92, right: 64, top: 10};
  const height = m.top + funnel.length * rowH + 4;
  const root = frame(container, width, height, t("chart.funnel"));
  const max = Math.max(1, ...funnel.map((s) => s.count));
  const plotW = width - m.left - m.right;
  const stepName = (step) => (has(`chart.step.${step}`) ? t(`chart.step.${step}`) : step);
  funnel.forEach((stepData, i) => {
    const y = m.top + i * rowH;
    const w = Math.max(2, (stepData.count / max) * plotW);
    const group = svg("g", {"data-step": stepData.step, class: "ops-funnel-step"});
    group.append(svg("text", {x: m.left - 10, y: y + 19, "text-anchor": "end", class: "ops-label"}, stepName(stepData.step)));
    group.append(svg("rect", {x: m.left + (plotW - w) / 2, y: y + 4, width: w, height: 24, rx: 6, class: `ops-funnel-bar ops-funnel-${i}`}));
    group.append(svg("text", {x: m.left + plotW / 2, y: y + 21, "text-anchor": "middle", class: "ops-funnel-count"}, String(stepData.count)));
    if (stepData.rate !== null && stepData.rate !== undefined) {
      group.append(svg("text", {x: width - m.right + 10, y: y + 21, class: "ops-funnel-rate"}, formatPercent(stepData.rate)));
    }
    group.append(svg("title", {}, t("chart.step_tip", {step: stepName(stepData.step), count: stepData.count})
      + (stepData.rate === null ? "" : t("chart.step_rate", {rate: formatPercent(stepData.rate)}))));
    root.append(group);
  });
}

/** GMV per product as horizontal bars; the refunded part is hatched. */
export function productsChart(container, products, currency) {
  const width = widthOf(container, 520);
  // The name sits above its bar across the whole width, so a long (or Chinese) name is not
  // clipped to a narrow label column.
  const rowH = 46;
  const m = {left: 0, right: 84, top: 4};
  const list = products.slice(0, 12);
  const height = m.top + Math.max(1, list.length) * rowH + 4;
  const root = frame(container, width, height, t("chart.products"));
  const defs = svg("defs");
  const pattern = svg("pattern", {id: "ops-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)"});
  pattern.append(svg("rect", {width: 6, height: 6, fill: "#fff"}), svg("line", {x1: 0, y1: 0, x2: 0, y2: 6, stroke: COLORS.gmv, "stroke-width": 3}));
  defs.append(pattern);
  root.append(defs);
  if (!list.length) {
    root.append(svg("text", {x: width / 2, y: 24, "text-anchor": "middle", class: "ops-svg-empty"}, t("chart.no_products")));
    return;
  }
  const max = Math.max(1, ...list.map((p) => p.gmv_minor));
  const plotW = width - m.left - m.right;
  list.forEach((p, i) => {
    const y = m.top + i * rowH;
    const group = svg("g", {"data-product-id": p.product_id, class: "ops-product-row"});
    // About 7 px a character at the label's size; wide (CJK) characters count double.
    const room = Math.max(8, Math.floor(width / 7));
    group.append(svg("text", {x: 0, y: y + 14, class: "ops-label ops-label-above", "data-testid": "product-bar-label"},
                     truncateWide(p.title, room)));
    group.append(svg("rect", {x: m.left, y: y + 20, width: plotW, height: 20, rx: 5, class: "ops-track"}));
    const net = (p.net_gmv_minor / max) * plotW;
    const refunded = (p.refunded_minor / max) * plotW;
    if (p.gmv_minor > 0) {
      group.append(svg("rect", {x: m.left, y: y + 20, width: Math.max(2, net), height: 20, rx: 5, class: "ops-product-bar"}));
      if (refunded > 0) {
        group.append(svg("rect", {x: m.left + net, y: y + 20, width: refunded, height: 20, class: "ops-product-refund", fill: "url(#ops-hatch)"}));
      }
    }
    group.append(svg("text", {x: width - m.right + 8, y: y + 35, class: "ops-value"}, formatMoneyShort(p.gmv_minor, currency)));
    group.append(svg("title", {}, t("chart.product_tip", {
      title: p.title, gmv: formatMoney(p.gmv_minor, currency), refunded: formatMoney(p.refunded_minor, currency),
      units: p.units_sold, clicks: p.clicks})));
    root.append(group);
  });
}

// The broadcast's day in the reader's own time zone (not the UTC date of the ISO text).
const dayFormat = new Intl.DateTimeFormat(locale, {month: "numeric", day: "numeric"});
function dayLabel(iso) {
  const moment = iso ? new Date(iso) : null;
  return moment && !Number.isNaN(moment.getTime()) ? dayFormat.format(moment) : "";
}

/** A small two-series trend (GMV and viewers) of samples taken by the live data screen. */

export function trendChart(container, samples, currency) {
  const width = widthOf(container, 520);
  const height = 180;
  const m = {left: 44, right: 70, top: 14, bottom: 24};
  const root = frame(container, width, height, t("chart.trend"));
  if (samples.length < 2) {
    root.append(svg("text", {x: width / 2, y: height / 2, "text-anchor": "middle", class: "ops-svg-empty"}, t("chart.collecting")));
    return;
  }
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const t0 = samples[0].t;
  const span = Math.max(1, samples[samples.length - 1].t - t0);
  const gmvScale = niceScale(Math.max(...samples.map((s) => s.gmv)), {target: 2, integer: false, floor: 100});
  const viewerScale = niceScale(Math.max(...samples.map((s) => s.viewers)), {target: 2});
  const maxGmv = gmvScale.max;
  const maxViewers = viewerScale.max;
  const px = (t) => m.left + ((t - t0) / span) * plotW;
  const path = (key, max) => samples.map((s, i) => `${i ? "L" : "M"}${px(s.t).toFixed(1)},${(m.top + plotH - (s[key] / max) * plotH).toFixed(1)}`).join("");
  for (const value of gmvScale.ticks) {
    const y = m.top + plotH - (value / maxGmv) * plotH;
    root.append(svg("line", {x1: m.left, x2: m.left + plotW, y1: y, y2: y, class: "ops-grid"}));
    root.append(svg("text", {x: m.left + plotW + 8, y: y + 4, class: "ops-axis"}, formatMoneyShort(value, currency)));
  }
  for (const value of viewerScale.ticks) {
    const y = m.top + plotH - (value / maxViewers) * plotH;
    root.append(svg("text", {x: m.left - 8, y: y + 4, "text-anchor": "end", class: "ops-axis"}, String(Math.round(value))));
  }
  root.append(svg("path", {d: path("viewers", maxViewers), class: "ops-viewers-line"}));
  root.append(svg("path", {d: path("gmv", maxGmv), class: "ops-gmv-line"}));
  const fmt = (t) => formatDateTime(t, {date: false, seconds: true});
  root.append(svg("text", {x: m.left, y: height - 6, class: "ops-axis"}, fmt(t0)));
  root.append(svg("text", {x: m.left + plotW, y: height - 6, "text-anchor": "end", class: "ops-axis"}, fmt(samples[samples.length - 1].t)));
}

export function redrawOnResize(draw) {
  let frameId = 0;
  let lastWidth = window.innerWidth;
  window.addEventListener("resize", () => {
    if (window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    cancelAnimationFrame(frameId);
    frameId = requestAnimationFrame(draw);
  });
  draw();
}

/**
 * GMV per broadcast (bars, oldest to newest) with peak viewers (dots), for the dashboard.
 * Only broadcasts in one currency share a chart: amounts of two currencies are never compared.
 */
export function broadcastsChart(container, broadcasts, currency) {
  const list = broadcasts.slice(0, 40).reverse();
  const width = widthOf(container, 900);
  const height = 220;
  const m = {left: 64, right: 48, top: 16, bottom: 40};
  const root = frame(container, width, height, t("chart.broadcasts"));
  if (!list.length) {
    root.append(svg("text", {x: width / 2, y: height / 2, "text-anchor": "middle", class: "ops-svg-empty"}, t("chart.no_reports")));
    return;
  }
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const step = plotW / list.length;
  const gmvScale = niceScale(Math.max(...list.map((b) => b.report.gmv_minor)), {target: 3, integer: false, floor: 100});
  const viewerScale = niceScale(Math.max(...list.map((b) => b.report.peak_viewers)), {target: 3});
  const yG = (v) => m.top + plotH - (v / gmvScale.max) * plotH;
  const yV = (v) => m.top + plotH - (v / viewerScale.max) * plotH;
  for (const value of gmvScale.ticks) {
    root.append(svg("line", {x1: m.left, x2: m.left + plotW, y1: yG(value), y2: yG(value), class: "ops-grid"}));
    root.append(svg("text", {x: m.left - 8, y: yG(value) + 4, "text-anchor": "end", class: "ops-axis"}, formatMoneyShort(value, currency)));
  }
  for (const value of viewerScale.ticks) {
    root.append(svg("text", {x: m.left + plotW + 8, y: yV(value) + 4, class: "ops-axis"}, String(value)));
  }
  const bars = svg("g", {"data-testid": "broadcast-bars"});
  list.forEach((b, i) => {
    const x = m.left + i * step;
    const link = svg("a", {href: `/ops/broadcasts/${b.room_id}`, class: "ops-bar-link"});
    const top = yG(b.report.gmv_minor);
    // A few broadcasts must not make slabs: bars are at most 56 px wide.
    const barW = Math.max(2, Math.min(56, step * 0.6));
    link.append(svg("rect", {x: x + (step - barW) / 2, y: top, width: barW, height: m.top + plotH - top, rx: Math.min(4, barW / 4), class: "ops-gmv-bar", "data-room-id": b.room_id}));
    link.append(svg("title", {}, t("chart.broadcast_tip", {
      title: b.title, when: formatDateTime(b.started_at), gmv: formatMoney(b.report.gmv_minor, currency),
      paid: b.report.paid_orders, peak: b.report.peak_viewers})));
    bars.append(link);
    root.append(svg("circle", {cx: x + step / 2, cy: yV(b.report.peak_viewers), r: 3.5, class: "ops-peak-dot"}));
    if (list.length <= 16 || i % Math.ceil(list.length / 16) === 0) {
      root.append(svg("text", {x: x + step / 2, y: height - 22, "text-anchor": "middle", class: "ops-axis"}, dayLabel(b.started_at)));
      root.append(svg("text", {x: x + step / 2, y: height - 8, "text-anchor": "middle", class: "ops-axis ops-bar-title"}, truncate(b.title, Math.max(4, Math.floor(step / 6.5)))));
    }
  });
  root.append(bars);
  root.append(svg("line", {x1: m.left, x2: m.left + plotW, y1: m.top + plotH, y2: m.top + plotH, class: "ops-baseline"}));
}
