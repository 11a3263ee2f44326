// The live data screen: numbers polled every 2 s from the JSON endpoint, and refreshed at once
// when the room's websocket says something sold (order, sale, stock) or the viewer count moved.
import {money, percent, redrawOnResize, trendChart} from "./charts.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
const roomId = boot.room.id;
const POLL_MS = 2000;
// A sample a poll: 15 minutes of trend at 2 s.
const MAX_SAMPLES = 450;

const $ = (id) => document.getElementById(id);
const samples = [];
let latest = boot.numbers;
let viewersFromHub = null;
let timer = 0;
let inFlight = false;

function text(id, value) {
  const node = $(id);
  if (node.textContent !== value) node.textContent = value;
}

function render(numbers) {
  const currency = numbers.currency;
  text("kpi-gmv", money(numbers.gmv_minor, currency || "USD"));
  text("kpi-net", `net ${money(numbers.net_gmv_minor, currency || "USD")}`);
  text("kpi-orders", String(numbers.orders));
  text("kpi-paid", `${numbers.paid_orders} paid`);
  const viewers = viewersFromHub ?? numbers.viewers_now;
  text("kpi-viewers", String(viewers));
  text("kpi-unique", `${numbers.unique_viewers} unique viewers so far`);
  text("kpi-buyers", String(numbers.buyers));
  const conversion = numbers.unique_viewers ? `${percent(numbers.buyers / numbers.unique_viewers)} of viewers · ` : "";
  text("kpi-engagement", `${conversion}${numbers.chat_messages} chat · ${numbers.likes} likes`);
  const status = $("room-status");
  status.dataset.status = numbers.room.status;
  text("room-status", numbers.room.status);

  const list = $("top-products");
  const max = Math.max(1, ...numbers.top_products.map((p) => p.gmv_minor));
  list.replaceChildren(...numbers.top_products.map((p) => {
    const li = document.createElement("li");
    li.dataset.productId = p.product_id;
    const name = document.createElement("span");
    name.className = "ops-top-name";
    name.textContent = p.title;
    const value = document.createElement("span");
    value.className = "ops-top-value";
    value.textContent = `${money(p.gmv_minor, currency || "USD")} · ${p.units_sold} sold`;
    const bar = document.createElement("span");
    bar.className = "ops-top-bar";
    bar.style.width = `${Math.max(2, (p.gmv_minor / max) * 100)}%`;
    li.append(name, value, bar);
    return li;
  }));
  $("top-empty").hidden = numbers.top_products.length > 0;
  text("updated", `Updated ${new Date().toISOString().slice(11, 19)} UTC.`);

  samples.push({t: Date.now(), gmv: numbers.gmv_minor, viewers});
  if (samples.length > MAX_SAMPLES) samples.shift();
  trendChart($("trend-chart"), samples, currency || "USD");
}

async function refresh() {
  if (inFlight) return;
  inFlight = true;
  clearTimeout(timer);
  try {
    const response = await fetch(`/api/ops/broadcasts/${roomId}/live`, {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (response.ok) {
      latest = await response.json();
      render(latest);
    }
  } catch {
    // Offline for a moment: the next poll tries again.
  } finally {
    inFlight = false;
    timer = setTimeout(refresh, POLL_MS);
  }
}

let soon = 0;
function refreshSoon() {
  // Many orders in a burst make one fetch, not one each.
  clearTimeout(soon);
  soon = setTimeout(refresh, 250);
}

function connect(attempt = 0) {
  const conn = $("conn");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let socket;
  try {
    socket = new WebSocket(`${scheme}://${location.host}/ws/rooms/${roomId}`);
  } catch {
    conn.dataset.state = "polling";
    conn.textContent = "polling";
    return;
  }
  socket.addEventListener("open", () => {
    conn.dataset.state = "open";
    conn.textContent = "live";
  });
  socket.addEventListener("message", (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    if (frame.type === "hello" && typeof frame.data.viewers === "number") {
      viewersFromHub = frame.data.viewers;
      text("kpi-viewers", String(viewersFromHub));
    } else if (frame.type === "viewers") {
      viewersFromHub = frame.data.count;
      text("kpi-viewers", String(viewersFromHub));
    } else if (["order", "sale", "stock", "room"].includes(frame.type)) {
      refreshSoon();
    }
  });
  socket.addEventListener("close", () => {
    viewersFromHub = null;
    conn.dataset.state = "polling";
    conn.textContent = "polling";
    // Back off up to 30 s; polling keeps the numbers fresh meanwhile.
    setTimeout(() => connect(attempt + 1), Math.min(30000, 1000 * 2 ** attempt));
  });
}

redrawOnResize(() => trendChart($("trend-chart"), samples, latest.currency || "USD"));
render(latest);
timer = setTimeout(refresh, POLL_MS);
connect();
