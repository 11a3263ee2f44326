// The buyer's orders: every order with its items, price, status and history; pay again for an
// unpaid one, cancel it, ask for a refund of a paid one; filter by status. Below, the shipping
// address kept on the account.
import {fillAddress, formatAddress, saveAddress} from "./address.js";
import {api} from "./api.js";
import {$, h, toast} from "./dom.js";
import {formatDateTime, formatMoney} from "./format.js";
import {errorText, has, t} from "./i18n.js";

// An order's status and its history's events in words (a status or event this page does not
// know yet shows as the API names it).
const statusText = (status) => (has(`orders_page.status.${status}`) ? t(`orders_page.status.${status}`) : status);
const eventText = (type) => (has(`orders_page.event.${type}`) ? t(`orders_page.event.${type}`) : type);
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
    toast(errorText(error), "error");
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
    : [h("li", {}, t("orders_page.flash_item", {quantity: order.quantity, amount}))];
  const history = h("details", {class: "order-history", "data-testid": "order-history"},
    h("summary", {}, t("orders_page.history")), h("ol", {}));
  history.addEventListener("toggle", async () => {
    if (!history.open || history.dataset.loaded) return;
    history.dataset.loaded = "true";
    const reply = await api("GET", `/api/orders/${order.id}/events`);
    history.querySelector("ol").replaceChildren(...reply.events.map((event) => h("li", {"data-type": event.type},
      `${eventText(event.type)} · ${formatDateTime(event.created_at)}`)));
  }, {once: false});
  const actions = [];
  if (order.status === "pending_payment") {
    actions.push(h("a", {class: "btn btn-primary btn-sm", href: order.payment_url, "data-testid": "order-pay"}, t("orders_page.pay")));
    actions.push(h("button", {type: "button", class: "btn btn-ghost btn-sm", "data-testid": "order-cancel",
                              onclick: () => act("POST", `/api/orders/${order.id}/cancel`, t("orders_page.cancelled"))},
                        t("orders_page.cancel")));
  }
  if (order.status === "paid" || order.status === "completed") {
    actions.push(h("button", {type: "button", class: "btn btn-ghost btn-sm", "data-testid": "order-refund",
                              onclick: () => act("POST", `/api/orders/${order.id}/refund-request`,
                                                 t("orders_page.refund_asked"))}, t("orders_page.refund")));
  }
  return h("li", {class: "order-card card", "data-testid": "order-card", "data-order-id": String(order.id), "data-status": order.status},
    h("div", {class: "order-card-head"},
      h("strong", {}, t("orders_page.order_number", {id: order.id})),
      h("span", {class: "order-status", "data-status": order.status, "data-testid": "order-status"}, statusText(order.status)),
      h("span", {class: "muted small"}, formatDateTime(order.created_at))),
    h("ul", {class: "order-lines"}, ...items),
    h("p", {class: "order-total"}, t("orders_page.total"), " ", h("strong", {}, amount)),
    order.shipping_address ? h("p", {class: "muted small"}, t("orders_page.ships_to", {address: formatAddress(order.shipping_address)})) : null,
    fromVideo(order),
    history,
    actions.length ? h("div", {class: "shop-actions"}, ...actions) : null);
}

// The pages an order's source links back to (a live room's order says nothing more).
const SOURCE_PAGES = {replay: "/videos/", video: "/videos/", bargain: "/bargains/"};

/** Where an order bought on a replay's, short video's or bargain's page came from, linking
 * back to it (a bargain's order is at the price its friends reached). */
function fromVideo(order) {
  const source = order.source;
  if (!source || !SOURCE_PAGES[source.kind]) return null;
  return h("p", {class: "muted small", "data-testid": "order-source", "data-kind": source.kind},
    h("a", {href: `${SOURCE_PAGES[source.kind]}${source.id}`}, t(`orders_page.from.${source.kind}`)));
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
    toast(t("address.saved"), "success");
  }
});
api("GET", "/api/account/address").then((reply) => {
  fillAddress(addressForm, reply.shipping_address);
  $("#address-current").textContent = reply.shipping_address ? formatAddress(reply.shipping_address)
    : t("orders_page.no_address");
}).catch(() => {});

load();
