// The buyer's orders: every order with its items, price, status and history; pay again for an
// unpaid one, cancel it, ask for a refund of a paid one; filter by status. Below, the shipping
// address kept on the account.
import {fillAddress, formatAddress, saveAddress} from "./address.js";
import {api} from "./api.js";
import {$, h, toast} from "./dom.js";
import {formatDateTime, formatMoney} from "./format.js";

const STATUS_TEXT = {
  pending_payment: "Awaiting payment", paid: "Paid", completed: "Delivered", cancelled: "Cancelled",
  expired: "Expired", refunded: "Refunded",
};
const EVENT_TEXT = {
  order_placed: "Placed", order_paid: "Paid", order_cancelled: "Cancelled", order_expired: "Hold ran out",
  order_completed: "Delivered", order_refunded: "Refunded", refund_requested: "Refund asked for",
};
const list = $("#orders");
const filter = $("#status-filter");
const params = new URLSearchParams(window.location.search);
filter.value = params.get("status") || "";

function optionText(options) {
  return Object.keys(options || {}).sort().map((name) => options[name]).join(" / ");
}

async function act(method, path, done) {
  try {
    await api(method, path);
    toast(done, "success");
  } catch (error) {
    toast(error.message, "error");
  }
  load();
}

function card(order) {
  const amount = formatMoney(order.amount_minor, order.currency);
  const items = order.lines
    ? order.lines.map((line) => h("li", {"data-testid": "order-line"},
      `${line.quantity} × ${line.title}`,
      Object.keys(line.options || {}).length ? ` (${optionText(line.options)})` : "",
      ` · ${formatMoney(line.amount_minor, order.currency)}`))
    : [h("li", {}, `${order.quantity} × flash-sale item · ${amount}`)];
  const history = h("details", {class: "order-history", "data-testid": "order-history"},
    h("summary", {}, "History"), h("ol", {}));
  history.addEventListener("toggle", async () => {
    if (!history.open || history.dataset.loaded) return;
    history.dataset.loaded = "true";
    const reply = await api("GET", `/api/orders/${order.id}/events`);
    history.querySelector("ol").replaceChildren(...reply.events.map((event) => h("li", {"data-type": event.type},
      `${EVENT_TEXT[event.type] || event.type} · ${formatDateTime(event.created_at)}`)));
  }, {once: false});
  const actions = [];
  if (order.status === "pending_payment") {
    actions.push(h("a", {class: "btn btn-primary btn-sm", href: order.payment_url, "data-testid": "order-pay"}, "Pay"));
    actions.push(h("button", {type: "button", class: "btn btn-ghost btn-sm", "data-testid": "order-cancel",
                              onclick: () => act("POST", `/api/orders/${order.id}/cancel`, "Order cancelled.")}, "Cancel"));
  }
  if (order.status === "paid" || order.status === "completed") {
    actions.push(h("button", {type: "button", class: "btn btn-ghost btn-sm", "data-testid": "order-refund",
                              onclick: () => act("POST", `/api/orders/${order.id}/refund-request`,
                                                 "Refund asked for: the shop will get back to you.")}, "Ask for a refund"));
  }
  return h("li", {class: "order-card card", "data-testid": "order-card", "data-order-id": String(order.id), "data-status": order.status},
    h("div", {class: "order-card-head"},
      h("strong", {}, `Order #${order.id}`),
      h("span", {class: "order-status", "data-status": order.status, "data-testid": "order-status"}, STATUS_TEXT[order.status] || order.status),
      h("span", {class: "muted small"}, formatDateTime(order.created_at))),
    h("ul", {class: "order-lines"}, ...items),
    h("p", {class: "order-total"}, "Total ", h("strong", {}, amount)),
    order.shipping_address ? h("p", {class: "muted small"}, `Ships to ${formatAddress(order.shipping_address)}`) : null,
    history,
    actions.length ? h("div", {class: "shop-actions"}, ...actions) : null);
}

async function load() {
  const status = filter.value;
  const reply = await api("GET", `/api/orders${status ? `?status=${encodeURIComponent(status)}` : ""}`);
  list.replaceChildren(...reply.orders.map(card));
  $("#orders-empty").hidden = reply.orders.length > 0;
}

filter.addEventListener("change", () => {
  const url = new URL(window.location.href);
  if (filter.value) url.searchParams.set("status", filter.value);
  else url.searchParams.delete("status");
  window.history.replaceState(null, "", url);
  load();
});

const addressForm = $("#address-form");
addressForm.querySelector("[data-address-cancel]").hidden = true;
addressForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const saved = await saveAddress(addressForm);
  if (saved) {
    $("#address-current").textContent = formatAddress(saved);
    toast("Address saved.", "success");
  }
});
api("GET", "/api/account/address").then((reply) => {
  fillAddress(addressForm, reply.shipping_address);
  $("#address-current").textContent = reply.shipping_address ? formatAddress(reply.shipping_address)
    : "No address yet: you will be asked for one at your first order.";
}).catch(() => {});

load();
