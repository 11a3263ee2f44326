// The live data screen: numbers polled every 2 s from the JSON endpoint, and refreshed at once
// when the room's websocket says something sold (order, sale, stock) or the room changed; the
// viewer count comes from the same room store and socket the live room page uses.
import {api} from "./api.js";
import {redrawOnResize, trendChart} from "./charts.js";
import {$, h, readBoot} from "./dom.js";
import {formatDateTime, formatMoney, formatPercent} from "./format.js";
import {t} from "./i18n.js";
import {describeConnection, RoomSocket} from "./socket.js";
import {RoomStore} from "./store.js";

const boot = readBoot();
const roomId = boot.room.id;
const POLL_MS = 2000;
// A burst of orders makes one fetch, not one each.
const BURST_MS = 250;
// A sample a poll: 15 minutes of trend at 2 s.
const MAX_SAMPLES = 450;

const store = new RoomStore({room: boot.room});
const samples = [];
let latest = boot.numbers;
let viewersFromHub = null;
let timer = 0;
let inFlight = false;

function text(id, value) {
  const node = document.getElementById(id);
  if (node.textContent !== value) node.textContent = value;
}

function render(numbers) {
  const currency = numbers.currency || "USD";
  text("kpi-gmv", formatMoney(numbers.gmv_minor, currency));
  text("kpi-net", t("opslive.net", {amount: formatMoney(numbers.net_gmv_minor, currency)}));
  text("kpi-orders", String(numbers.orders));
  text("kpi-paid", t("opslive.paid", {count: numbers.paid_orders}));
  const viewers = viewersFromHub ?? numbers.viewers_now;
  text("kpi-viewers", String(viewers));
  text("kpi-unique", t("opslive.unique", {count: numbers.unique_viewers}));
  text("kpi-buyers", String(numbers.buyers));
  const conversion = numbers.unique_viewers ? t("opslive.of_viewers", {percent: formatPercent(numbers.buyers / numbers.unique_viewers)}) : "";
  text("kpi-engagement", conversion + t("opslive.engagement", {chat: numbers.chat_messages, likes: numbers.likes}));
  $("#room-status").dataset.status = numbers.room.status;
  text("room-status", t(`common.status.${numbers.room.status}`));

  const max = Math.max(1, ...numbers.top_products.map((p) => p.gmv_minor));
  $("#top-products").replaceChildren(...numbers.top_products.map((p) => {
    const bar = h("span", {class: "ops-top-bar"});
    bar.style.width = `${Math.max(2, (p.gmv_minor / max) * 100)}%`;
    return h("li", {dataset: {productId: p.product_id}},
      h("span", {class: "ops-top-name"}, p.title),
      h("span", {class: "ops-top-value"}, t("opslive.top_value", {amount: formatMoney(p.gmv_minor, currency), count: p.units_sold})),
      bar);
  }));
  $("#top-empty").hidden = numbers.top_products.length > 0;
  text("updated", t("opslive.updated", {time: formatDateTime(new Date(), {date: false, seconds: true})}));

  samples.push({t: Date.now(), gmv: numbers.gmv_minor, viewers});
  if (samples.length > MAX_SAMPLES) samples.shift();
  trendChart($("#trend-chart"), samples, currency);
}

async function refresh() {
  if (inFlight) return;
  inFlight = true;
  clearTimeout(timer);
  try {
    latest = await api("GET", `/api/ops/broadcasts/${roomId}/live`);
    render(latest);
  } catch {
    // Offline for a moment: the next poll tries again.
  } finally {
    inFlight = false;
    timer = setTimeout(refresh, POLL_MS);
  }
}

let soon = 0;
function refreshSoon() {
  clearTimeout(soon);
  soon = setTimeout(refresh, BURST_MS);
}

function showViewers(count) {
  viewersFromHub = count;
  text("kpi-viewers", String(count));
}

store.on("reset", () => showViewers(store.state.viewers));
store.on("viewers", showViewers);
store.on("frame", (frame) => {
  if (["order", "sale", "stock", "room"].includes(frame.type)) refreshSoon();
});

const conn = $("#conn");
const socket = new RoomSocket(roomId, {
  onFrame: (frame) => store.apply(frame),
  onStatus: (state) => {
    // Polling keeps the numbers fresh while the socket reconnects.
    if (state !== "open") viewersFromHub = null;
    conn.dataset.state = state === "open" ? "open" : "polling";
    conn.textContent = state === "open" ? t("opslive.conn_live") : t("opslive.conn_polling", {state: describeConnection(state)});
  },
});

/** The show so far, minute by minute from the report, so the chart starts when the show did,
 * not when this screen was opened; the 2 s samples carry on from there. */
async function loadHistory() {
  try {
    const report = await api("GET", `/api/ops/broadcasts/${roomId}/report`);
    let gmv = 0;
    const history = [];
    for (const row of report.timeline || []) {
      gmv += row.gmv_minor || 0;
      history.push({t: new Date(row.minute).getTime(), gmv, viewers: row.viewers || 0});
    }
    // Samples taken while the report was loading are newer than its minutes: they stay last.
    const cutoff = samples.length ? samples[0].t : Infinity;
    samples.unshift(...history.filter((sample) => sample.t < cutoff));
    if (samples.length > MAX_SAMPLES) samples.splice(0, samples.length - MAX_SAMPLES);
    $("#trend-chart").dataset.history = String(history.length);
    trendChart($("#trend-chart"), samples, latest.currency || "USD");
  } catch {
    // Without the history the chart still draws from now on.
  }
}

redrawOnResize(() => trendChart($("#trend-chart"), samples, latest.currency || "USD"));
render(latest);
loadHistory();
timer = setTimeout(refresh, POLL_MS);
socket.connect();
