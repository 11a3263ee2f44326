// Flash sales on the live room page, inside the pinned card (livesell.slots.sale): the sale
// price against the regular one, a countdown kept on the server's clock, the stock left, the
// one-tap Buy, the hold with its Pay now link, and the order once it is paid.
//
// Where the data comes from: the hello's `sale` and `stock` state, then `sale` events (terms,
// status, the server's clock), `stock` events (coalesced counters) and the buyer's own `order`
// events on their user channel. GET /api/orders fills in the buyer's order after a reload (say,
// coming back from the payment page), and a slow poll covers a missed `order` event.
import {$, h, readBoot} from "../dom.js";
import {formatPrice} from "../format.js";

const livesell = window.livesell;
const slot = livesell && livesell.slots && livesell.slots.sale;
const boot = readBoot();
const me = boot.me;
const roomId = boot.room && boot.room.id;

// Our stylesheet, same-origin (the pages' CSP allows it), versioned like this module.
(function loadStyles() {
  const version = new URL(import.meta.url).searchParams.get("v") || "0";
  if (!$('link[data-livesell="sale-css"]')) {
    document.head.append(h("link", {rel: "stylesheet", href: `/static/css/sale.css?v=${version}`,
                                    "data-livesell": "sale-css"}));
  }
})();

const TICK_MS = 250;
// A lost network reply is retried with the same Idempotency-Key, so the server answers the
// first request's outcome instead of selling twice.
const BUY_RETRIES = 3;
const RETRY_DELAY_MS = 600;
// Fallback for a missed `order` event while a payment is on its way.
const ORDER_POLL_MS = 4000;
const ACTIVE = new Set(["scheduled", "running"]);
const HELD = new Set(["pending_payment", "paid", "completed"]);

const state = {
  sale: null,        // the sale's public view
  stock: null,       // {sale_id, remaining, reserved, sold}
  offsetMs: null,    // server clock minus Date.now(), from the last frame that carried it
  orders: new Map(), // this buyer's orders in this room, by id
  buying: false,
  retryKey: null,    // a key whose request's outcome is unknown: the next tap reuses it
  message: null,     // {kind, text}
};

function serverNow() {
  return Date.now() + (state.offsetMs || 0);
}

function setClock(serverTimeMs) {
  if (typeof serverTimeMs === "number" && serverTimeMs > 0) state.offsetMs = serverTimeMs - Date.now();
}

function newKey() {
  if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

// State from frames ------------------------------------------------------------------------

function counters() {
  const sale = state.sale;
  if (!sale) return null;
  if (state.stock && state.stock.sale_id === sale.id) return state.stock;
  if (typeof sale.remaining === "number") {
    return {sale_id: sale.id, remaining: sale.remaining, reserved: sale.reserved || 0, sold: sale.sold || 0};
  }
  return null;
}

function takeSale(sale, stock) {
  if (!sale) {
    state.sale = null;
    state.stock = null;
    return;
  }
  if (!state.sale || state.sale.id !== sale.id) {
    state.message = null;
    state.retryKey = null;
  }
  state.sale = sale;
  if (state.stock && state.stock.sale_id !== sale.id) state.stock = null;
  // The sale's own counters are as of its last sale event; the room's `stock` state is
  // refreshed by every stock event too, so it wins when both are there.
  if (typeof sale.remaining === "number") {
    state.stock = {sale_id: sale.id, remaining: sale.remaining, reserved: sale.reserved || 0, sold: sale.sold || 0};
  }
  if (stock && stock.sale_id === sale.id) state.stock = stock;
}

function takeOrder(order) {
  if (!order || (roomId && order.room_id !== roomId)) return;
  state.orders.set(order.id, order);
}

/** This buyer's newest order in the current sale. */
function myOrder() {
  const sale = state.sale;
  if (!sale) return null;
  let newest = null;
  for (const order of state.orders.values()) {
    if (order.sale_id === sale.id && (!newest || order.id > newest.id)) newest = order;
  }
  return newest;
}

function myHeldUnits() {
  const sale = state.sale;
  let units = 0;
  for (const order of state.orders.values()) {
    if (sale && order.sale_id === sale.id && HELD.has(order.status)) units += order.quantity;
  }
  return units;
}

livesell.store.on("frame", (frame) => {
  const data = frame.data || {};
  switch (frame.type) {
    case "hello":
      // The hub's clock at the snapshot: close enough until a sale event brings Redis's own.
      if (state.offsetMs === null) setClock(frame.ts);
      takeSale(data.sale || null, data.stock || null);
      loadMyOrders();
      render();
      break;
    case "sale":
      setClock(data.server_time_ms);
      takeSale(data.sale || null, null);
      render();
      break;
    case "stock":
      if (state.sale && data.sale_id === state.sale.id) {
        state.stock = data;
        render();
      }
      break;
    case "order":
      takeOrder(data);
      render();
      break;
    case "pin":
    case "unpin":
    case "lineup":
    case "room":
      render();
      break;
    default:
      break;
  }
});

// Rendering ----------------------------------------------------------------------------------

/** warmup | live | soldout | ended */
function phase() {
  const sale = state.sale;
  if (!sale) return null;
  if (!ACTIVE.has(sale.status)) return "ended";
  const now = serverNow();
  if (now >= sale.ends_at_ms) return "ended";
  if (now < sale.starts_at_ms) return "warmup";
  const count = counters();
  if (count && count.remaining <= 0) return "soldout";
  return "live";
}

function product() {
  const sale = state.sale;
  const {lineup, pin} = livesell.store.state;
  if (pin && pin.id === sale.product_id) return pin;
  return (lineup || []).find((p) => p.id === sale.product_id) || null;
}

/** Show the sale while it is on (whatever is pinned), and an ended one on its own product's card. */
function visible() {
  const sale = state.sale;
  if (!sale) return false;
  const room = livesell.store.state.room;
  if (room && room.status === "ended") return false;
  if (ACTIVE.has(sale.status) && serverNow() < sale.ends_at_ms) return true;
  const pin = livesell.store.state.pin;
  return Boolean(pin && pin.id === sale.product_id);
}

let nodes = null;

function build() {
  const n = {};
  n.timer = h("span", {class: "ls-sale-timer", "data-testid": "sale-countdown", "aria-live": "off"});
  n.badge = h("span", {class: "ls-sale-badge"}, "⚡ Flash sale");
  n.title = h("p", {class: "ls-sale-product", "data-testid": "sale-product"});
  n.price = h("span", {class: "ls-sale-price", "data-testid": "sale-price"});
  n.regular = h("s", {class: "ls-sale-regular", "data-testid": "sale-regular-price"});
  n.off = h("span", {class: "ls-sale-off"});
  n.fill = h("span", {class: "ls-bar-fill"});
  n.bar = h("div", {class: "ls-bar", role: "progressbar", "aria-label": "Stock left", "aria-valuemin": "0"}, n.fill);
  n.stock = h("span", {class: "ls-sale-stock-text", "data-testid": "sale-stock"});
  n.limit = h("span", {class: "ls-sale-limit"});
  n.buy = h("button", {type: "button", class: "btn btn-primary btn-block ls-buy", "data-testid": "sale-buy",
                       onclick: onBuy});
  n.message = h("p", {class: "ls-sale-msg", "data-testid": "sale-message", role: "status"});
  n.order = h("div", {class: "ls-order", "data-testid": "sale-order", hidden: true});
  n.guest = me ? null : h("p", {class: "ls-sale-guest"}, "Sign in to buy — you'll come right back here.");
  n.root = h("div", {class: "ls-sale", "data-testid": "sale"},
    h("div", {class: "ls-sale-head"}, n.badge, n.timer),
    n.title,
    h("div", {class: "ls-sale-prices"}, n.price, n.regular, n.off),
    h("div", {class: "ls-sale-stock"}, n.bar, h("div", {class: "ls-sale-stock-row"}, n.stock, n.limit)),
    n.buy, n.guest, n.message, n.order);
  return n;
}

function render() {
  if (!slot) return;
  if (!visible()) {
    if (slot.firstChild) slot.replaceChildren();
    nodes = null;
    schedule();
    return;
  }
  if (!nodes) {
    nodes = build();
    slot.replaceChildren(nodes.root);
  }
  const sale = state.sale;
  const current = phase();
  const item = product();
  nodes.root.dataset.phase = current;
  nodes.root.dataset.saleId = String(sale.id);

  const pin = livesell.store.state.pin;
  const elsewhere = !pin || pin.id !== sale.product_id;
  nodes.title.hidden = !elsewhere;
  nodes.title.textContent = elsewhere && item ? item.title : "";

  nodes.price.textContent = formatPrice(sale.price_minor, sale.currency);
  const regular = item && item.currency === sale.currency ? item.price_minor : null;
  const discounted = regular !== null && regular > sale.price_minor;
  nodes.regular.hidden = !discounted;
  nodes.off.hidden = !discounted;
  if (discounted) {
    nodes.regular.textContent = formatPrice(regular, sale.currency);
    nodes.off.textContent = `−${Math.max(1, Math.floor((1 - sale.price_minor / regular) * 100))}%`;
  }

  const count = counters();
  const remaining = count ? Math.max(0, count.remaining) : sale.quantity;
  const claimed = sale.quantity - remaining;
  const share = sale.quantity > 0 ? remaining / sale.quantity : 0;
  const over = current === "ended" || current === "soldout";
  // While on, the bar is the stock left; once over, the share that sold.
  const shown = over ? 1 - share : share;
  nodes.fill.style.setProperty("width", `${(shown * 100).toFixed(1)}%`);
  nodes.bar.dataset.level = over ? "over" : share <= 0 ? "out" : share <= 0.2 ? "low" : "ok";
  nodes.bar.setAttribute("aria-valuemax", String(sale.quantity));
  nodes.bar.setAttribute("aria-valuenow", String(remaining));
  nodes.stock.dataset.remaining = String(remaining);
  if (current === "ended" || current === "soldout") {
    nodes.stock.textContent = `${claimed.toLocaleString()} of ${sale.quantity.toLocaleString()} sold`;
  } else {
    nodes.stock.textContent = remaining <= 0 ? "None left"
      : `${remaining.toLocaleString()} of ${sale.quantity.toLocaleString()} left`;
  }
  nodes.limit.textContent = `Limit ${sale.per_user_limit} per person`;

  renderButton(current);
  renderMessage();
  renderOrder();
  tick();
  schedule();
}

function renderButton(current) {
  const button = nodes.buy;
  const sale = state.sale;
  const reachedLimit = me && myHeldUnits() >= sale.per_user_limit;
  let label = `Buy now · ${formatPrice(sale.price_minor, sale.currency)}`;
  let enabled = current === "live";
  if (current === "warmup") label = "Get ready…";
  else if (current === "soldout") label = "Sold out";
  else if (current === "ended") label = "Sale ended";
  else if (state.buying) { label = "Reserving…"; enabled = false; }
  else if (reachedLimit) { label = "You've got yours"; enabled = false; }
  button.textContent = label;
  button.disabled = !enabled;
  button.dataset.state = state.buying ? "buying" : current;
}

function renderMessage() {
  const message = state.message;
  nodes.message.textContent = message ? message.text : "";
  nodes.message.dataset.kind = message ? message.kind : "";
  nodes.message.dataset.code = message && message.code ? message.code : "";
}

function renderOrder() {
  const box = nodes.order;
  const order = myOrder();
  box.hidden = !order;
  if (!order) {
    box.replaceChildren();
    return;
  }
  box.dataset.status = order.status;
  box.dataset.orderId = String(order.id);
  const amount = formatPrice(order.amount_minor, order.currency);
  if (order.status === "pending_payment") {
    const hold = h("span", {class: "ls-hold-time", "data-testid": "sale-hold"});
    box.replaceChildren(
      h("p", {class: "ls-order-title"}, `Reserved for you · ${amount}`),
      h("p", {class: "ls-order-note"}, "Pay within ", hold, " to keep it."),
      h("div", {class: "ls-order-actions"},
        h("button", {type: "button", class: "btn btn-primary ls-pay", "data-testid": "sale-pay",
                     onclick: () => pay(order)}, "Pay now"),
        h("button", {type: "button", class: "btn btn-ghost btn-sm", "data-testid": "sale-cancel",
                     onclick: () => cancel(order)}, "Cancel")));
    nodes.hold = hold;
  } else {
    nodes.hold = null;
    const text = {
      paid: `Order #${order.id} confirmed · ${amount} paid`,
      completed: `Order #${order.id} confirmed · ${amount} paid`,
      expired: "Your hold expired and the unit went back on sale.",
      cancelled: "You cancelled this order.",
      refunded: `Order #${order.id} refunded · ${amount}`,
    }[order.status] || `Order #${order.id}: ${order.status.replace(/_/g, " ")}`;
    const good = order.status === "paid" || order.status === "completed";
    box.replaceChildren(h("p", {class: `ls-order-title${good ? " ls-ok" : ""}`, "data-testid": "sale-order-status"},
      good ? h("span", {class: "ls-check", "aria-hidden": "true"}, "✓") : null, text));
  }
}

// The clock ---------------------------------------------------------------------------------

let lastPhase = null;
let ticker = null;

function tick() {
  if (!nodes || !state.sale) return;
  const sale = state.sale;
  const current = phase();
  if (lastPhase !== null && current !== lastPhase) {
    lastPhase = current;
    render();  // the countdown ran out: the button opens (or closes) on time for everyone
    return;
  }
  lastPhase = current;
  const now = serverNow();
  let text = "";
  if (current === "warmup") text = `Starts in ${formatCountdown(sale.starts_at_ms - now)}`;
  else if (current === "live") text = `Ends in ${formatCountdown(sale.ends_at_ms - now)}`;
  else if (current === "soldout") text = "Sold out";
  else text = "Sale ended";
  if (nodes.timer.textContent !== text) nodes.timer.textContent = text;
  nodes.timer.dataset.phase = current;
  const order = myOrder();
  if (nodes.hold && order && order.status === "pending_payment") {
    const left = order.hold_expires_at_ms - now;
    nodes.hold.textContent = left > 0 ? formatCountdown(left) : "0:00";
    nodes.hold.dataset.expired = left > 0 ? "false" : "true";
  }
}

function needsTicking() {
  if (!nodes || !state.sale) return false;
  const order = myOrder();
  return ACTIVE.has(state.sale.status) || Boolean(order && order.status === "pending_payment");
}

function schedule() {
  if (needsTicking()) {
    if (!ticker) ticker = setInterval(tick, TICK_MS);
  } else if (ticker) {
    clearInterval(ticker);
    ticker = null;
  }
  scheduleOrderPoll();
}

// Buying ---------------------------------------------------------------------------------------

const ERROR_TEXT = {
  sold_out: "Sold out — every unit has been claimed.",
  limit_reached: "You've reached this sale's limit per person.",
  sale_not_started: "The sale hasn't started yet — wait for the countdown.",
  sale_ended: "This sale has ended.",
  sale_not_found: "This sale is no longer available.",
  sale_unavailable: "The sale is busy for a moment. Tap Buy to try again.",
  request_in_progress: "Still working on your last tap…",
  network: "Can't reach the shop. Check your connection and tap Buy again.",
};

function loginUrl() {
  return `/login?next=${encodeURIComponent(window.location.pathname)}`;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function postBuy(saleId, key) {
  let response;
  try {
    response = await fetch(`/api/sales/${saleId}/buy`, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": key},
      body: JSON.stringify({quantity: 1}),
    });
  } catch {
    return {status: 0, body: {error: {code: "network"}}};
  }
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  return {status: response.status, body};
}

async function onBuy() {
  const sale = state.sale;
  if (!sale || state.buying) return;
  if (!me) {
    window.location.assign(loginUrl());
    return;
  }
  const key = state.retryKey || newKey();
  state.retryKey = key;
  state.buying = true;
  state.message = null;
  render();
  let result = null;
  try {
    for (let attempt = 0; attempt <= BUY_RETRIES; attempt += 1) {
      if (attempt > 0) await sleep(RETRY_DELAY_MS * attempt);
      result = await postBuy(sale.id, key);
      const code = result.body && result.body.error && result.body.error.code;
      // Unknown outcomes (no reply, the same key still being handled, counters being rebuilt):
      // ask again with the same key; anything else is an answer.
      if (!(result.status === 0 || result.status === 503 || code === "request_in_progress")) break;
    }
  } finally {
    state.buying = false;
  }
  finishBuy(result, sale);
}

function finishBuy(result, sale) {
  const {status, body} = result;
  const error = (body && body.error) || {};
  if (status >= 200 && status < 300 && body && body.order) {
    state.retryKey = null;
    takeOrder(body.order);
    state.message = null;
  } else if (status === 401) {
    window.location.assign(loginUrl());
    return;
  } else if (status === 0 || status === 503 || error.code === "request_in_progress") {
    // Still unknown: keep the key, so the next tap cannot buy twice.
    state.message = {kind: "error", code: error.code || "network", text: ERROR_TEXT[error.code] || ERROR_TEXT.network};
  } else {
    state.retryKey = null;
    let text = ERROR_TEXT[error.code] || error.message || "Something went wrong. Try again.";
    if (error.code === "sold_out" && typeof error.remaining === "number" && error.remaining > 0) {
      text = `Only ${error.remaining} left.`;
    }
    if (error.code === "limit_reached") text = `You've reached this sale's limit of ${sale.per_user_limit} per person.`;
    if (error.code === "sold_out" && state.stock && state.stock.sale_id === sale.id) {
      state.stock = {...state.stock, remaining: typeof error.remaining === "number" ? error.remaining : 0};
    }
    state.message = {kind: error.code === "limit_reached" ? "info" : "error", code: error.code || "error", text};
  }
  render();
}

function pay(order) {
  // A plain navigation: the pages' CSP only lets forms post to our own origin.
  window.location.assign(order.payment_url);
}

async function cancel(order) {
  try {
    const response = await fetch(`/api/orders/${order.id}/cancel`, {
      method: "POST", credentials: "same-origin", headers: {Accept: "application/json"}});
    const body = await response.json().catch(() => null);
    if (response.ok && body) takeOrder(body);
    else state.message = {kind: "error", code: "cancel", text: (body && body.error && body.error.message) || "Could not cancel."};
  } catch {
    state.message = {kind: "error", code: "network", text: ERROR_TEXT.network};
  }
  render();
}

// The buyer's orders (after a reload, and while a payment is on its way) -----------------------

let pollTimer = null;

function scheduleOrderPoll() {
  const order = myOrder();
  const waiting = Boolean(me && order && order.status === "pending_payment");
  if (waiting && !pollTimer) {
    pollTimer = setInterval(refreshOrder, ORDER_POLL_MS);
  } else if (!waiting && pollTimer) {
    clearInterval(pollTimer);
    pollTimer = null;
  }
}

async function refreshOrder() {
  const order = myOrder();
  if (!order || document.visibilityState === "hidden") return;
  try {
    const response = await fetch(`/api/orders/${order.id}`, {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (!response.ok) return;
    const fresh = await response.json();
    if (fresh.status !== order.status) {
      takeOrder(fresh);
      render();
    }
  } catch {
    // The next poll (or the order event) tries again.
  }
}

let ordersLoadedFor = null;

/** The buyer's orders, once per page and sale, and only for a sale that was on when the page
 * (or its connection) started: a sale that starts while we watch has no orders of ours yet, and
 * a whole room asking at its start would be a stampede. */
async function loadMyOrders() {
  if (!me || !state.sale || ordersLoadedFor === state.sale.id) return;
  ordersLoadedFor = state.sale.id;
  try {
    const response = await fetch("/api/orders", {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (!response.ok) return;
    const body = await response.json();
    for (const order of body.orders || []) {
      // A live event may have brought a newer status meanwhile: keep that one.
      if (!state.orders.has(order.id)) takeOrder(order);
    }
    render();
  } catch {
    // Without the list the page still works; the order shows once its event comes.
  }
}

/** If this module started after the hello, take the snapshot's sale and ask the server's clock. */
async function catchUp() {
  const snapshot = livesell.store.state.snapshot || {};
  if (!snapshot.room) return;
  takeSale(livesell.store.state.sale, snapshot.stock || null);
  loadMyOrders();
  render();
  if (state.sale && state.offsetMs === null) {
    try {
      const sent = Date.now();
      const response = await fetch(`/api/sales/${state.sale.id}`, {headers: {Accept: "application/json"}});
      if (!response.ok) return;
      const fresh = await response.json();
      if (state.offsetMs === null) state.offsetMs = fresh.server_time_ms - (sent + Date.now()) / 2;
      render();
    } catch {
      // The next sale event sets the clock.
    }
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refreshOrder();
});

catchUp();

// For tests and other modules.
livesell.sale = {state, serverNow};
