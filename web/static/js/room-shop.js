// Buying at the regular price in the live room: pick a size and colour (a variant) and a
// quantity on the pinned product, buy it now or add it to the cart; check the cart out as one
// order; give a shipping address the first time; pay, and see the order confirmed here (the
// buyer's `order` events). Every press of Buy or Check out carries its own Idempotency-Key,
// reused if the same press is sent again (after the address is given).
//
// The same shop sells from a replay's or short video's page (`video: {kind, id}`, no store and
// no cart): a product the video tags, at its current price (labelled so), any time; the order
// is attributed to the video (POST /api/videos/{id}/buy) and followed here by reading it.
// A live-room coupon the viewer claimed (room-coupons.js) is offered beside Buy now and at the
// checkout, and comes off the amount paid.
import {askAddress} from "./address.js";
import {api} from "./api.js";
import {$, fieldErrorText, h, toast} from "./dom.js";
import {formatCountdown, formatMoney, formatStock} from "./format.js";
import {errorText, has, locale, t} from "./i18n.js";

const HELD = "pending_payment";

function newKey() {
  return (crypto.randomUUID && crypto.randomUUID()) || `k${Date.now()}${Math.random().toString(16).slice(2)}`;
}

/** An API error in the reader's words; a refused field (a quantity, a line) by its own words. */
function problemText(error) {
  const item = error && error.code === "invalid" && error.errors && error.errors[0];
  return item ? fieldErrorText(item) : errorText(error);
}

/** A message with an element in it: withNode(t("shop.pay_within"), "time", node) split at {time}. */
function withNode(text, name, node) {
  const [before, after = ""] = text.split(`{${name}}`);
  return [before, node, after];
}

const choices = new Intl.ListFormat(locale, {type: "conjunction"});

function optionText(options) {
  return Object.keys(options || {}).sort().map((name) => options[name]).join(" / ");
}

/** The claim chosen in a coupon picker (`coupons.select`), or undefined. */
function chosenClaim(picker) {
  const select = picker && picker.querySelector("select");
  return select && select.value ? Number(select.value) : undefined;
}

export function mountShop({store = null, me, roomId = null, video = null, slots, coupons = null}) {
  const buyPath = video ? `/api/videos/${video.id}/buy` : `/api/rooms/${roomId}/buy`;
  const here = video ? window.location.pathname : `/rooms/${roomId}`;
  // This page's orders: the video's, or the room's bought in it live.
  const ours = video ? (o) => Boolean(o.source && o.source.kind === video.kind && o.source.id === video.id)
    : (o) => o.room_id === roomId && (!o.source || o.source.kind === "live");
  const variantsOf = new Map();   // product id -> its variants reply
  const picked = new Map();       // product id -> {option: value}
  let order = null;               // the viewer's latest regular-price order in this room
  let cart = {lines: [], total_minor: 0, currency: null};
  const orderBox = $("#my-order");
  const cartButton = $("#cart-btn");
  const cartDialog = $("#cart-dialog");
  const addressDialog = $("#address-dialog");
  const addressForm = $("#address-form");

  // Variants ------------------------------------------------------------------------

  async function loadVariants(productId, {fresh = false} = {}) {
    if (fresh || !variantsOf.has(productId)) {
      variantsOf.set(productId, await api("GET", `/api/products/${productId}/variants`));
    }
    return variantsOf.get(productId);
  }

  function chosenVariant(productId) {
    const data = variantsOf.get(productId);
    if (!data) return null;
    const choice = picked.get(productId) || {};
    return data.variants.find((v) => data.options.every((o) => v.options[o.name] === choice[o.name])) || null;
  }

  function block(slot) {
    let shown = null;  // the product whose block is in this slot

    async function show(product) {
      shown = product;
      if (!product) {
        slot.replaceChildren();
        return;
      }
      try {
        await loadVariants(product.id, {fresh: true});
      } catch {
        slot.replaceChildren(h("p", {class: "muted small"}, t("shop.load_failed")));
        return;
      }
      if (shown && shown.id === product.id) render();
    }

    function render() {
      const product = shown;
      const data = product && variantsOf.get(product.id);
      if (!data) return;
      const live = video ? true : store.state.room.status === "live";
      const choice = picked.get(product.id) || {};
      const variant = chosenVariant(product.id);
      const rows = data.options.map((option) => h("div", {class: "shop-option", "data-testid": `option-${option.name}`},
        h("span", {class: "shop-option-name"}, option.name),
        h("div", {class: "shop-choices", role: "group", "aria-label": option.name},
          ...option.values.map((value) => {
            const any = data.variants.some((v) => v.options[option.name] === value && v.remaining > 0);
            return h("button", {type: "button", class: "chip", "data-value": value,
                                "aria-pressed": choice[option.name] === value ? "true" : "false",
                                "data-soldout": any ? null : "true",
                                onclick: () => {
                                  picked.set(product.id, {...(picked.get(product.id) || {}), [option.name]: value});
                                  renderAll();
                                }}, value);
          }))));
      const missing = data.options.filter((o) => !choice[o.name]).map((o) => o.name);
      const price = variant ? variant.price_minor : product.price_minor;
      const left = variant ? variant.remaining : null;
      // A re-render (a stock tick) keeps what the buyer typed.
      const typed = slot.querySelector("[data-testid=shop-quantity]");
      const quantity = h("input", {type: "number", min: "1", max: "10", value: typed ? typed.value : "1", class: "shop-qty",
                                   "data-testid": "shop-quantity", "aria-label": t("shop.quantity")});
      const can = live && me && variant && left > 0;
      const message = h("p", {class: "shop-message", "data-testid": "shop-message", role: "alert"});
      const couponPicker = can && coupons ? coupons.select("shop-coupon") : null;
      const status = !live ? t("shop.not_live")
        : missing.length ? t("shop.choose", {options: choices.format(missing)})
          : left !== null ? formatStock(left) : "";
      slot.replaceChildren(h("div", {class: "shop", "data-product-id": String(product.id)},
        h("p", {class: "shop-price", "data-testid": "shop-price"},
          video ? t("shop.current_price", {price: formatMoney(price, data.currency)}) : formatMoney(price, data.currency)),
        ...rows,
        h("p", {class: "shop-status", "data-testid": "shop-status", "data-level": left !== null && left <= 0 ? "out" : "ok"}, status),
        couponPicker,
        h("div", {class: "shop-actions"},
          quantity,
          h("button", {type: "button", class: "btn btn-primary", "data-testid": "buy-now", disabled: !can,
                       onclick: (event) => buyNow(event.currentTarget, variant, quantity, message, chosenClaim(couponPicker))}, t("shop.buy_now")),
          video ? null : h("button", {type: "button", class: "btn btn-ghost", "data-testid": "add-to-cart", disabled: !can,
                                      onclick: () => addToCart(variant, quantity, message)}, t("shop.add_to_cart"))),
        me ? null : h("p", {class: "muted small"},
          ...withNode(t("shop.sign_in_to_buy"), "link", h("a", {href: `/login?next=${encodeURIComponent(here)}`}, t("shop.sign_in")))),
        message));
    }

    return {show, render, get product() { return shown; }};
  }

  // Buy now, with the address asked for the first time ------------------------------

  /** POST with one key per press; an address asked for once, then the same press again. */
  async function place(path, body, key) {
    try {
      return await api("POST", path, body, {headers: {"Idempotency-Key": key}});
    } catch (error) {
      if (error.code !== "address_required") throw error;
      if (!await askAddress(addressDialog, addressForm)) return null;
      return api("POST", path, body, {headers: {"Idempotency-Key": key}});
    }
  }

  async function buyNow(button, variant, quantityInput, message, claimId) {
    message.textContent = "";
    button.disabled = true;
    try {
      const body = {variant_id: variant.id, quantity: Number(quantityInput.value) || 0};
      if (claimId) body.coupon_claim_id = claimId;
      const reply = await place(buyPath, body, newKey());
      if (reply) takeOrder(reply.order);
      if (reply && claimId && coupons) coupons.refresh();
    } catch (error) {
      message.textContent = problemText(error);
    } finally {
      button.disabled = false;
      refreshShown();
    }
  }

  // The cart ------------------------------------------------------------------------

  function renderCart() {
    if (video) return;
    const count = cart.lines.reduce((sum, line) => sum + line.quantity, 0);
    cartButton.hidden = !me;
    $("#cart-count").textContent = String(count);
    $("#cart-empty").hidden = cart.lines.length > 0;
    $("#cart-checkout").disabled = cart.lines.length === 0;
    $("#cart-total").textContent = cart.lines.length ? t("cart.total", {amount: formatMoney(cart.total_minor, cart.currency)}) : "";
    const picker = cart.lines.length && coupons ? coupons.select("cart-coupon") : null;
    $("#cart-coupon").replaceChildren(...(picker ? [picker] : []));
    $("#cart-lines").replaceChildren(...cart.lines.map((line) => h("li", {class: "cart-line", "data-variant-id": String(line.variant_id), "data-testid": "cart-line"},
      h("div", {class: "cart-line-text"},
        h("strong", {}, line.title),
        line.options && Object.keys(line.options).length ? h("span", {class: "muted small"}, optionText(line.options)) : null,
        h("span", {class: "small"}, formatMoney(line.amount_minor, cart.currency))),
      h("input", {type: "number", min: "0", max: "10", value: String(line.quantity), class: "shop-qty",
                  "aria-label": t("cart.quantity_of", {title: line.title}), "data-testid": "cart-quantity",
                  onchange: (event) => setLine(line.variant_id, Number(event.target.value) || 0)}),
      h("button", {type: "button", class: "btn btn-ghost btn-xs", "data-testid": "cart-remove",
                   onclick: () => setLine(line.variant_id, 0)}, t("cart.remove")))));
  }

  async function setLine(variantId, quantity) {
    const message = $("#cart-message");
    message.textContent = "";
    try {
      cart = await api("PUT", `/api/rooms/${roomId}/cart/${variantId}`, {quantity});
    } catch (error) {
      message.textContent = problemText(error);
    }
    renderCart();
  }

  async function addToCart(variant, quantityInput, message) {
    message.textContent = "";
    const have = cart.lines.find((line) => line.variant_id === variant.id);
    const quantity = (have ? have.quantity : 0) + (Number(quantityInput.value) || 0);
    try {
      cart = await api("PUT", `/api/rooms/${roomId}/cart/${variant.id}`, {quantity});
      renderCart();
      toast(t("cart.added"), "success");
    } catch (error) {
      message.textContent = problemText(error);
    }
  }

  async function checkout() {
    const button = $("#cart-checkout");
    const message = $("#cart-message");
    message.textContent = "";
    button.disabled = true;
    try {
      const claimId = chosenClaim($("#cart-coupon"));
      const reply = await place(`/api/rooms/${roomId}/cart/checkout`,
                                claimId ? {coupon_claim_id: claimId} : undefined, newKey());
      if (reply && claimId && coupons) coupons.refresh();
      if (reply) {
        takeOrder(reply.order);
        cart = {lines: [], total_minor: 0, currency: null};
        cartDialog.close();
      }
    } catch (error) {
      // A line short of units is named: lines[i] is the i-th line shown.
      const match = /^lines\[(\d+)\]/.exec(error.field || "");
      const line = match && cart.lines[Number(match[1])];
      message.textContent = line ? t("common.failed_because", {what: line.title, why: problemText(error)})
        : problemText(error);
    } finally {
      renderCart();
    }
  }

  if (!video) {
    cartButton.addEventListener("click", async () => {
      if (me) {
        try { cart = await api("GET", `/api/rooms/${roomId}/cart`); } catch { /* shown as it was */ }
      }
      renderCart();
      cartDialog.showModal();
    });
    $("#cart-close").addEventListener("click", () => cartDialog.close());
    $("#cart-checkout").addEventListener("click", checkout);
  }

  // The viewer's order --------------------------------------------------------------

  let tick = null;

  function takeOrder(next) {
    if (!next || next.kind !== "regular" || !ours(next)) return;
    if (order && next.id < order.id) return;
    // A hold's move (cancelled, expired) comes without the lines: they are the ones we have.
    order = next.lines || !order || order.id !== next.id ? next : {...next, lines: order.lines};
    renderOrder();
  }

  // The order whose box the viewer closed, until its status changes or another one comes.
  let dismissed = null;

  function dismissButton() {
    return h("button", {type: "button", class: "my-order-dismiss", "aria-label": t("shop.hide"),
                        "data-testid": "shop-order-dismiss",
                        onclick: () => { dismissed = `${order.id}:${order.status}`; renderOrder(); }}, "×");
  }

  function renderOrder() {
    orderBox.hidden = !order || dismissed === `${order.id}:${order.status}`;
    clearInterval(tick);
    if (orderBox.hidden) return;
    orderBox.dataset.status = order.status;
    orderBox.dataset.orderId = String(order.id);
    const amount = formatMoney(order.amount_minor, order.currency);
    const items = h("ul", {class: "my-order-lines"}, ...(order.lines || []).map((line) => h("li", {},
      `${line.quantity} × ${line.title}`)));
    if (order.status === HELD) {
      const hold = h("strong", {"data-testid": "shop-hold"});
      const update = () => { hold.textContent = formatCountdown(Math.max(0, order.hold_expires_at_ms - Date.now())); };
      update();
      tick = setInterval(update, 1000);
      orderBox.replaceChildren(dismissButton(),
        h("p", {class: "my-order-title"}, t("shop.order_title", {id: order.id, amount})), items,
        order.discount_minor ? h("p", {class: "small", "data-testid": "shop-discount"},
          t("shop.coupon_discount", {amount: formatMoney(order.discount_minor, order.currency)})) : null,
        h("p", {class: "small"}, ...withNode(t("shop.pay_within"), "time", hold)),
        h("div", {class: "shop-actions"},
          h("button", {type: "button", class: "btn btn-primary", "data-testid": "shop-pay",
                       onclick: () => window.location.assign(order.payment_url)}, t("shop.pay_now")),
          h("button", {type: "button", class: "btn btn-ghost", "data-testid": "shop-cancel",
                       onclick: cancel}, t("shop.cancel"))));
      return;
    }
    const text = has(`shop.order.${order.status}`) ? t(`shop.order.${order.status}`, {id: order.id, amount})
      : t("shop.order_status", {id: order.id, status: order.status});
    orderBox.replaceChildren(dismissButton(),
      h("p", {class: "my-order-title", "data-testid": "shop-order-status"}, text), items,
      h("a", {href: "/orders", "data-testid": "shop-orders-link"}, t("shop.see_orders")));
  }

  async function cancel() {
    try {
      takeOrder(await api("POST", `/api/orders/${order.id}/cancel`));
      // A coupon on the order is the viewer's again.
      if (coupons && order.coupon_claim_id) coupons.refresh();
    } catch (error) {
      toast(errorText(error), "error");
    }
  }

  if (store) store.on("order", (next) => takeOrder(next));
  // A missed `order` event (the socket reconnecting while the payment lands) is caught up
  // by reading the order while it waits for payment.
  setInterval(async () => {
    if (!order || order.status !== HELD || document.hidden) return;
    try { takeOrder(await api("GET", `/api/orders/${order.id}`)); } catch { /* next time */ }
  }, 3000);

  // Start ---------------------------------------------------------------------------

  const blocks = Object.fromEntries(Object.entries(slots).map(([name, slot]) => [name, block(slot)]));

  function renderAll() {
    for (const each of Object.values(blocks)) each.render();
  }

  function refreshShown() {
    const ids = new Set(Object.values(blocks).map((b) => b.product && b.product.id).filter(Boolean));
    for (const id of ids) loadVariants(id, {fresh: true}).then(renderAll).catch(() => {});
  }

  if (store) {
    store.on("pin", () => blocks.pin.show(store.state.pin));
    store.on("reset", () => blocks.pin.show(store.state.pin));
    store.on("room", renderAll);
    // Another buyer's buy, cart or cancel: the variants' units left, as the room was told.
    store.on("units", (units) => {
      const data = variantsOf.get(units.product_id);
      if (!data) return;
      const left = new Map(units.variants.map((v) => [v.id, v.remaining]));
      for (const variant of data.variants) {
        if (left.has(variant.id)) variant.remaining = left.get(variant.id);
      }
      for (const each of Object.values(blocks)) {
        if (each.product && each.product.id === units.product_id) each.render();
      }
    });
  }
  if (coupons) {
    coupons.onChange(() => { renderAll(); renderCart(); });
  }
  if (me) {
    api("GET", "/api/orders").then((reply) => {
      const mine = reply.orders.find((o) => o.kind === "regular" && ours(o));
      if (mine) takeOrder(mine);
    }).catch(() => {});
    if (!video) api("GET", `/api/rooms/${roomId}/cart`).then((reply) => { cart = reply; renderCart(); }).catch(() => renderCart());
  }
  renderCart();
  if (store) blocks.pin.show(store.state.pin);
  return {showInDialog: (product) => blocks.dialog.show(product),
          get order() { return order; }, get cart() { return cart; }};
}
