// Flash sales on the live room page, inside the pinned card: the sale price against the
// regular one, a countdown kept on the server's clock, the stock left, the one-tap Buy, the
// hold with its Pay now link, and the order once it is paid.
//
// The sale, its counters and the clock are the room store's (`sale` and `stock` events and
// the hello); this module keeps only what is the viewer's own: their orders (from `order`
// events on their user channel, GET /api/orders after a reload, and a slow poll covering a
// missed event while a payment is on its way) and the state of their Buy tap. A live-room
// coupon the viewer claimed (room-coupons.js) and that fits the sale's price is offered above
// Buy, and named in the buy (`coupon_claim_id`), as at the regular price's Buy now.
import {api} from "./api.js";
import {h} from "./dom.js";
import {formatCount, formatCountdown, formatMoney} from "./format.js";
import {errorText, has, t} from "./i18n.js";
import {ACTIVE_SALE_STATUSES} from "./store.js";

const TICK_MS = 250;
// A lost network reply is retried with the same Idempotency-Key, so the server answers the
// first request's outcome instead of selling twice.
const BUY_RETRIES = 3;
const RETRY_DELAY_MS = 600;
// Fallback for a missed `order` event while a payment is on its way.
const ORDER_POLL_MS = 4000;
const HELD = new Set(["pending_payment", "paid", "completed"]);

// The buy button's own words for an error code ("sale.err.<code>"), else the catalog's
// general one (errors.<code>), else the API's message.
function buyErrorText(error) {
  return has(`sale.err.${error.code}`) ? t(`sale.err.${error.code}`) : errorText(error);
}

export function newKey() {
  if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** An order's status in words ("order.status.<status>"), else the status as it is. */
export function orderStatus(status) {
  return has(`order.status.${status}`) ? t(`order.status.${status}`) : status.replace(/_/g, " ");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Run the sale card in `slot` for the signed-in `me` (or a guest); returns its own state. */
export function mountRoomSale({store, slot, me, roomId, coupons = null}) {
  const mine = {
    orders: new Map(), // this buyer's orders in this room, by id
    buying: false,
    retryKey: null,    // a key whose request's outcome is unknown: the next tap reuses it
    retryClaim: undefined, // and the coupon claim that tap named
    message: null,     // {kind, code, text}
    saleId: null,      // the sale the message and the key belong to
  };
  let nodes = null;

  function takeOrder(order) {
    if (!order || (roomId && order.room_id !== roomId)) return;
    mine.orders.set(order.id, order);
  }

  /** This buyer's newest order in the current sale. */
  function myOrder() {
    const sale = store.state.sale;
    if (!sale) return null;
    let newest = null;
    for (const order of mine.orders.values()) {
      if (order.sale_id === sale.id && (!newest || order.id > newest.id)) newest = order;
    }
    return newest;
  }

  function myHeldUnits() {
    const sale = store.state.sale;
    let units = 0;
    for (const order of mine.orders.values()) {
      if (sale && order.sale_id === sale.id && HELD.has(order.status)) units += order.quantity;
    }
    return units;
  }

  function product() {
    const {sale, lineup, pin} = store.state;
    if (pin && pin.id === sale.product_id) return pin;
    return (lineup || []).find((p) => p.id === sale.product_id) || null;
  }

  /** Show the sale while it is on (whatever is pinned), and an ended one on its own product's card. */
  function visible() {
    const {sale, room, pin} = store.state;
    if (!sale) return false;
    if (room && room.status === "ended") return false;
    if (ACTIVE_SALE_STATUSES.has(sale.status) && store.serverNow() < sale.ends_at_ms) return true;
    return Boolean(pin && pin.id === sale.product_id);
  }

  function build() {
    const n = {};
    n.timer = h("span", {class: "ls-sale-timer", "data-testid": "sale-countdown", "aria-live": "off"});
    n.badge = h("span", {class: "ls-sale-badge"}, t("sale.badge"));
    n.title = h("p", {class: "ls-sale-product", "data-testid": "sale-product"});
    n.price = h("span", {class: "ls-sale-price", "data-testid": "sale-price"});
    n.regular = h("s", {class: "ls-sale-regular", "data-testid": "sale-regular-price"});
    n.off = h("span", {class: "ls-sale-off"});
    n.fill = h("span", {class: "ls-bar-fill"});
    n.bar = h("div", {class: "ls-bar", role: "progressbar", "aria-label": t("sale.stock_left_label"), "aria-valuemin": "0"}, n.fill);
    n.stock = h("span", {class: "ls-sale-stock-text", "data-testid": "sale-stock"});
    n.limit = h("span", {class: "ls-sale-limit"});
    n.coupon = h("div", {class: "ls-sale-coupon", "data-testid": "sale-coupon-slot"});
    n.buy = h("button", {type: "button", class: "btn btn-primary btn-block ls-buy", "data-testid": "sale-buy",
                         onclick: onBuy});
    n.message = h("p", {class: "ls-sale-msg", "data-testid": "sale-message", role: "status"});
    n.order = h("div", {class: "ls-order", "data-testid": "sale-order", hidden: true});
    n.guest = me ? null : h("p", {class: "ls-sale-guest"}, t("sale.guest"));
    n.root = h("div", {class: "ls-sale", "data-testid": "sale"},
      h("div", {class: "ls-sale-head"}, n.badge, n.timer),
      n.title,
      h("div", {class: "ls-sale-prices"}, n.price, n.regular, n.off),
      h("div", {class: "ls-sale-stock"}, n.bar, h("div", {class: "ls-sale-stock-row"}, n.stock, n.limit)),
      n.coupon, n.buy, n.guest, n.message, n.order);
    return n;
  }

  function render() {
    const sale = store.state.sale;
    if (sale && mine.saleId !== sale.id) {
      // A new sale: the last one's message and unanswered key do not carry over.
      mine.saleId = sale.id;
      mine.message = null;
      mine.retryKey = null;
      mine.retryClaim = undefined;
    }
    if (!visible()) {
      if (slot.firstChild) slot.replaceChildren();
      nodes = null;
      schedule();
      return;
    }
    if (!nodes) {
      nodes = build();
      offered = null;
      slot.replaceChildren(nodes.root);
    }
    const current = store.salePhase();
    const item = product();
    nodes.root.dataset.phase = current;
    nodes.root.dataset.saleId = String(sale.id);

    const pin = store.state.pin;
    const elsewhere = !pin || pin.id !== sale.product_id;
    nodes.title.hidden = !elsewhere;
    nodes.title.textContent = elsewhere && item ? item.title : "";

    nodes.price.textContent = formatMoney(sale.price_minor, sale.currency);
    const regular = item && item.currency === sale.currency ? item.price_minor : null;
    const discounted = regular !== null && regular > sale.price_minor;
    nodes.regular.hidden = !discounted;
    nodes.off.hidden = !discounted;
    if (discounted) {
      nodes.regular.textContent = formatMoney(regular, sale.currency);
      nodes.off.textContent = `−${Math.max(1, Math.floor((1 - sale.price_minor / regular) * 100))}%`;
    }

    const count = store.counters();
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
    if (over) {
      nodes.stock.textContent = t("sale.sold_of", {claimed: formatCount(claimed), total: formatCount(sale.quantity)});
    } else {
      nodes.stock.textContent = remaining <= 0 ? t("sale.none_left")
        : t("sale.left_of", {remaining: formatCount(remaining), total: formatCount(sale.quantity)});
    }
    nodes.limit.textContent = t("sale.limit", {limit: sale.per_user_limit});

    renderButton(current);
    renderCoupon(current);
    renderMessage();
    renderOrder();
    tick();
    schedule();
  }

  function renderButton(current) {
    const button = nodes.buy;
    const sale = store.state.sale;
    const reachedLimit = me && myHeldUnits() >= sale.per_user_limit;
    let label = t("sale.buy_now", {price: formatMoney(sale.price_minor, sale.currency)});
    let enabled = current === "live";
    if (current === "warmup") label = t("sale.get_ready");
    else if (current === "soldout") label = t("sale.sold_out");
    else if (current === "ended") label = t("sale.ended");
    else if (mine.buying) { label = t("sale.reserving"); enabled = false; }
    else if (reachedLimit) { label = t("sale.got_yours"); enabled = false; }
    button.textContent = label;
    button.disabled = !enabled;
    button.dataset.state = mine.buying ? "buying" : current;
  }

  // The coupon picker, rebuilt only when the coupons on offer change (a render on every sale or
  // pin event would otherwise undo the viewer's choice).
  let offered = null;

  function renderCoupon(current) {
    const sale = store.state.sale;
    const fits = (c) => c.currency === sale.currency && c.min_spend_minor <= sale.price_minor;
    const usable = coupons && me && current === "live" && !nodes.buy.disabled
      ? coupons.usable().filter(fits) : [];
    const key = `${sale.id}:${usable.map((c) => c.claim.id).join(",")}`;
    if (key === offered) return;
    offered = key;
    const picker = usable.length ? coupons.select("sale-coupon", fits) : null;
    nodes.coupon.replaceChildren(...(picker ? [picker] : []));
  }

  /** The claim chosen above Buy, or undefined. */
  function chosenClaim() {
    const select = nodes && nodes.coupon.querySelector("select");
    return select && select.value ? Number(select.value) : undefined;
  }

  function renderMessage() {
    const message = mine.message;
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
    const amount = formatMoney(order.amount_minor, order.currency);
    const discount = order.discount_minor > 0
      ? h("p", {class: "ls-order-note", "data-testid": "sale-discount"},
          t("sale.coupon_discount", {amount: formatMoney(order.discount_minor, order.currency)}))
      : null;
    if (order.status === "pending_payment") {
      const hold = h("span", {class: "ls-hold-time", "data-testid": "sale-hold"});
      box.replaceChildren(
        h("p", {class: "ls-order-title"}, t("sale.reserved_for_you", {amount})),
        discount,
        h("p", {class: "ls-order-note"}, t("sale.pay_within_before"), hold, t("sale.pay_within_after")),
        h("div", {class: "ls-order-actions"},
          // A plain navigation: the pages' CSP only lets forms post to our own origin.
          h("button", {type: "button", class: "btn btn-primary ls-pay", "data-testid": "sale-pay",
                       onclick: () => window.location.assign(order.payment_url)}, t("sale.pay_now")),
          h("button", {type: "button", class: "btn btn-ghost btn-sm", "data-testid": "sale-cancel",
                       onclick: () => cancel(order)}, t("sale.cancel"))));
      nodes.hold = hold;
    } else {
      nodes.hold = null;
      const params = {id: order.id, amount};
      const text = {
        paid: () => t("sale.order_confirmed", params),
        completed: () => t("sale.order_confirmed", params),
        expired: () => t("sale.hold_expired"),
        cancelled: () => t("sale.you_cancelled"),
        refunded: () => t("sale.order_refunded", params),
      }[order.status]?.() || t("sale.order_status", {id: order.id, status: orderStatus(order.status)});
      const good = order.status === "paid" || order.status === "completed";
      box.replaceChildren(h("p", {class: `ls-order-title${good ? " ls-ok" : ""}`, "data-testid": "sale-order-status"},
        good ? h("span", {class: "ls-check", "aria-hidden": "true"}, "✓") : null, text),
        shareNote(order));
    }
  }

  // Who was credited for sharing this order, and how much (docs/social.md): the order's own
  // view (GET /api/orders/{id}, the buyer's `order` event) carries it; lists leave it out.
  function shareNote(order) {
    if (order.share === undefined) loadShare(order);
    const share = order.share;
    if (!share || !share.credited) return null;
    const lines = share.entries.filter((e) => e.kind === "accrual").map((e) =>
      t("share.order_note", {name: e.sharer_name, amount: formatMoney(e.amount_minor, e.currency),
                             rate: (e.rate_bp / 100).toFixed(2), status: t(`share.status.${e.status}`)}));
    return h("p", {class: "ls-order-note", "data-testid": "sale-order-share"}, lines.join(" · "));
  }

  /** An order from a list has no `share`: ask for the order itself, once. */
  async function loadShare(order) {
    order.share = null;
    try {
      const fresh = await api("GET", `/api/orders/${order.id}`);
      if (fresh.share && fresh.share.credited) {
        takeOrder(fresh);
        render();
      }
    } catch {
      // No note then; the order itself is shown as it was.
    }
  }

  // The clock ---------------------------------------------------------------------------------

  let lastPhase = null;
  let ticker = null;

  function tick() {
    const sale = store.state.sale;
    if (!nodes || !sale) return;
    const current = store.salePhase();
    if (lastPhase !== null && current !== lastPhase) {
      lastPhase = current;
      render();  // the countdown ran out: the button opens (or closes) on time for everyone
      return;
    }
    lastPhase = current;
    const now = store.serverNow();
    let text = "";
    if (current === "warmup") text = t("sale.starts_in", {time: formatCountdown(sale.starts_at_ms - now)});
    else if (current === "live") text = t("sale.ends_in", {time: formatCountdown(sale.ends_at_ms - now)});
    else if (current === "soldout") text = t("sale.sold_out");
    else text = t("sale.ended");
    if (nodes.timer.textContent !== text) nodes.timer.textContent = text;
    nodes.timer.dataset.phase = current;
    const order = myOrder();
    if (nodes.hold && order && order.status === "pending_payment") {
      const left = order.hold_expires_at_ms - now;
      nodes.hold.textContent = left > 0 ? formatCountdown(left) : "0:00";
      nodes.hold.dataset.expired = left > 0 ? "false" : "true";
    }
  }

  function schedule() {
    const sale = store.state.sale;
    const order = myOrder();
    const ticking = Boolean(nodes && sale) && (ACTIVE_SALE_STATUSES.has(sale.status)
      || Boolean(order && order.status === "pending_payment"));
    if (ticking && !ticker) ticker = setInterval(tick, TICK_MS);
    else if (!ticking && ticker) {
      clearInterval(ticker);
      ticker = null;
    }
    scheduleOrderPoll();
  }

  // Buying ---------------------------------------------------------------------------------------

  function loginUrl() {
    return `/login?next=${encodeURIComponent(window.location.pathname)}`;
  }

  async function onBuy() {
    const sale = store.state.sale;
    if (!sale || mine.buying) return;
    if (!me) {
      window.location.assign(loginUrl());
      return;
    }
    const key = mine.retryKey || newKey();
    mine.retryKey = key;
    // A retry of an unknown outcome sends what its first tap sent.
    const claimId = mine.retryClaim !== undefined ? mine.retryClaim : chosenClaim();
    mine.retryClaim = claimId;
    const body = claimId ? {quantity: 1, coupon_claim_id: claimId} : {quantity: 1};
    mine.buying = true;
    mine.message = null;
    render();
    let reply = null;
    let error = null;
    try {
      for (let attempt = 0; attempt <= BUY_RETRIES; attempt += 1) {
        if (attempt > 0) await sleep(RETRY_DELAY_MS * attempt);
        try {
          reply = await api("POST", `/api/sales/${sale.id}/buy`, body,
                            {headers: {"Idempotency-Key": key}});
          error = null;
          break;
        } catch (err) {
          error = err;
          // Unknown outcomes (no reply, the same key still being handled, counters being
          // rebuilt): ask again with the same key; anything else is an answer.
          if (!unknownOutcome(err)) break;
        }
      }
    } finally {
      mine.buying = false;
    }
    finishBuy(reply, error, sale);
    // The coupon is on the order now (or was refused): the room's coupon card says which.
    if (claimId && coupons && !(error && unknownOutcome(error))) coupons.refresh();
  }

  function unknownOutcome(err) {
    return err.status === 0 || err.status === 503 || err.code === "request_in_progress";
  }

  function finishBuy(reply, error, sale) {
    if (!error && reply && reply.order) {
      mine.retryKey = null;
      mine.retryClaim = undefined;
      takeOrder(reply.order);
      mine.message = null;
    } else if (error && error.status === 401) {
      window.location.assign(loginUrl());
      return;
    } else if (!error || unknownOutcome(error)) {
      // Still unknown: keep the key, so the next tap cannot buy twice.
      const code = error ? error.code : "network";
      mine.message = {kind: "error", code, text: has(`sale.err.${code}`) ? t(`sale.err.${code}`) : t("sale.err.network")};
    } else {
      mine.retryKey = null;
      mine.retryClaim = undefined;
      const remaining = error.detail.remaining;
      let text = buyErrorText(error);
      if (error.code === "sold_out" && typeof remaining === "number" && remaining > 0) {
        text = t("sale.err.only_left", {count: remaining});
      }
      if (error.code === "limit_reached") text = t("sale.err.limit_of", {limit: sale.per_user_limit});
      const stock = store.state.stock;
      // The counters say what the server just told us, until its next stock event.
      if (error.code === "sold_out" && stock && stock.sale_id === sale.id) {
        store.state.stock = {...stock, remaining: typeof remaining === "number" ? remaining : 0};
      }
      mine.message = {kind: error.code === "limit_reached" ? "info" : "error", code: error.code, text};
    }
    render();
  }

  async function cancel(order) {
    try {
      takeOrder(await api("POST", `/api/orders/${order.id}/cancel`));
    } catch (err) {
      mine.message = {kind: "error", code: err.code === "network" ? "network" : "cancel",
                      text: err.code === "network" ? t("sale.err.network") : errorText(err, "sale.err.cancel_failed")};
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
      const fresh = await api("GET", `/api/orders/${order.id}`);
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
    const sale = store.state.sale;
    if (!me || !sale || ordersLoadedFor === sale.id) return;
    ordersLoadedFor = sale.id;
    try {
      const body = await api("GET", "/api/orders");
      for (const order of body.orders || []) {
        // A live event may have brought a newer status meanwhile: keep that one.
        if (!mine.orders.has(order.id)) takeOrder(order);
      }
      render();
    } catch {
      // Without the list the page still works; the order shows once its event comes.
    }
  }

  store.on("reset", loadMyOrders);
  store.on("sale", render);
  store.on("pin", render);
  store.on("lineup", render);
  store.on("room", render);
  store.on("order", (order) => {
    takeOrder(order);
    // A cancelled or expired order's coupon is the viewer's again.
    if (coupons && order.sale_id && order.coupon_claim_id) coupons.refresh();
    render();
  });
  if (coupons) coupons.onChange(render);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refreshOrder();
  });
  render();
  return mine;
}
