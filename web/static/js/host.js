// The host's home: their shows and their catalog, with forms to create both.
import {api} from "./api.js";
import {$, clearFormErrors, h, onSubmit, productImage, readBoot, showFormErrors, toast} from "./dom.js";
import {formatDateTime, formatMoney, formatStock, majorAmount, parsePrice} from "./format.js";
import {t} from "./i18n.js";
import {editVariants, renderHostOrders} from "./host-shop.js";

const boot = readBoot();
const rooms = boot.rooms || [];
const products = boot.products || [];


function renderRooms() {
  const list = $("#room-list");
  const order = {live: 0, scheduled: 1, ended: 2};
  const sorted = rooms.slice().sort((a, b) => (order[a.status] - order[b.status]) || (b.id - a.id));
  list.replaceChildren(...sorted.map((room) => h("li", {class: "room-row", dataset: {roomId: room.id, status: room.status}},
    h("span", {class: "badge badge-status", dataset: {status: room.status}}, room.status === "scheduled" ? t("host.status.scheduled") : t(`common.status.${room.status}`)),
    h("div", {class: "row-main"},
      h("a", {class: "row-title", href: `/host/rooms/${room.id}`}, room.title),
      h("span", {class: "row-sub"}, room.status === "scheduled"
        ? (room.scheduled_at ? t("host.starts", {when: formatDateTime(room.scheduled_at)}) : t("host.no_start"))
        : room.status === "live" ? t("host.on_air") : t("host.ended_at", {when: formatDateTime(room.ended_at)}))),
    h("div", {class: "row-actions"},
      h("a", {class: "btn btn-sm btn-ghost", href: `/rooms/${room.id}`}, t("host.view")),
      room.status === "ended"
        ? h("a", {class: "btn btn-sm btn-ghost", href: `/ops/broadcasts/${room.id}`}, t("host.report"))
        : h("a", {class: "btn btn-sm btn-primary", href: `/host/rooms/${room.id}`}, t("host.manage"))))));
  $("#rooms-empty").hidden = rooms.length > 0;
}

let editing = null;

function renderProducts() {
  $("#product-list").replaceChildren(...products.map((product) => (product.id === editing
    ? editRow(product)
    : h("li", {class: "catalog-row", dataset: {productId: product.id}},
      productImage(product, "thumb"),
      h("div", {class: "row-main"},
        h("span", {class: "row-title"}, product.title),
        h("span", {class: "row-sub"}, formatStock(product.stock))),
      h("span", {class: "row-price"}, formatMoney(product.price_minor, product.currency)),
      h("button", {type: "button", class: "btn btn-xs btn-ghost", "data-testid": "edit-product",
                   onclick: () => { editing = product.id; renderProducts(); }}, t("host.edit")),
      h("button", {type: "button", class: "btn btn-xs btn-ghost", "data-testid": "edit-variants",
                   onclick: () => editVariants(product)}, t("variants.button"))))));
  $("#products-empty").hidden = products.length > 0;
  const first = $("#product-list .edit-row input");
  if (first) first.focus();
}

/** Change price and stock in place: a restock mid-show reaches the pinned card live. */
function editRow(product) {
  const price = h("input", {name: "price", inputmode: "decimal", "aria-label": t("host.price"),
                            value: majorAmount(product.price_minor, product.currency)});
  const stock = h("input", {name: "stock", type: "number", min: "0", step: "1", "aria-label": t("host.stock"),
                            value: product.stock});
  const form = h("form", {class: "edit-form", novalidate: true},
    h("span", {class: "row-title"}, product.title),
    h("div", {class: "edit-fields"},
      h("label", {class: "field"}, h("span", {class: "field-label"}, t("host.price_in", {currency: product.currency})), price,
        h("span", {class: "field-error", "data-error-for": "price_minor"})),
      h("label", {class: "field"}, h("span", {class: "field-label"}, t("host.stock")), stock,
        h("span", {class: "field-error", "data-error-for": "stock"}))),
    h("p", {class: "form-error", role: "alert"}),
    h("div", {class: "row-actions"},
      h("button", {type: "submit", class: "btn btn-sm btn-primary"}, t("common.save")),
      h("button", {type: "button", class: "btn btn-sm btn-ghost",
                   onclick: () => { editing = null; renderProducts(); }}, t("common.cancel"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    const priceMinor = parsePrice(price.value, product.currency);
    const units = Number(stock.value);
    const problems = [];
    if (priceMinor === null) problems.push({field: "price_minor", message: t("host.enter_price", {example: formatMoney(1999, product.currency)})});
    if (stock.value === "" || !Number.isInteger(units) || units < 0) problems.push({field: "stock", message: t("host.enter_whole")});
    if (problems.length) {
      showFormErrors(form, {errors: problems});
      return;
    }
    try {
      // The stock is sent only when it changed: a product with sizes or colours has its stock
      // per variant (the variants editor), and refuses a single one.
      const body = {price_minor: priceMinor};
      if (units !== product.stock) body.stock = units;
      const saved = await api("PATCH", `/api/products/${product.id}`, body);
      products.splice(products.findIndex((p) => p.id === product.id), 1, saved);
      editing = null;
      renderProducts();
      toast(t("host.product_updated", {title: saved.title}), "success");
    } catch (err) {
      showFormErrors(form, err);
    }
  });
  return h("li", {class: "catalog-row edit-row", dataset: {productId: product.id}}, productImage(product, "thumb"), form);
}

const roomForm = $("#room-form");
onSubmit(roomForm, async (data) => {
  const body = {title: String(data.get("title") || "").trim()};
  const when = String(data.get("scheduled_at") || "");
  // datetime-local is the host's local time; the API wants an aware ISO timestamp.
  if (when) body.scheduled_at = new Date(when).toISOString();
  const playback = String(data.get("playback_url") || "").trim();
  if (playback) body.playback_url = playback;
  if (!body.title) {
    showFormErrors(roomForm, {errors: [{field: "title", message: t("host.give_show_title")}]});
    return;
  }
  const button = roomForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const room = await api("POST", "/api/rooms", body);
    window.location.assign(`/host/rooms/${room.id}`);
  } catch (err) {
    showFormErrors(roomForm, err);
    button.disabled = false;
  }
});

const productForm = $("#product-form");
onSubmit(productForm, async (data) => {
  const currency = String(data.get("currency"));
  const price = parsePrice(String(data.get("price") || ""), currency);
  const stock = Number(data.get("stock"));
  const problems = [];
  if (!String(data.get("title") || "").trim()) problems.push({field: "title", message: t("host.give_product_title")});
  if (price === null) problems.push({field: "price_minor", message: t("host.enter_price", {example: formatMoney(1999, currency)})});
  if (!Number.isInteger(stock) || stock < 0) problems.push({field: "stock", message: t("host.enter_whole")});
  if (problems.length) {
    showFormErrors(productForm, {errors: problems});
    return;
  }
  const body = {title: String(data.get("title")).trim(), price_minor: price, currency, stock,
                description: String(data.get("description") || "").trim()};
  const image = String(data.get("image_url") || "").trim();
  if (image) body.image_url = image;
  const button = productForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const product = await api("POST", "/api/products", body);
    products.push(product);
    renderProducts();
    productForm.reset();
    toast(t("host.product_added", {title: product.title}), "success");
  } catch (err) {
    showFormErrors(productForm, err);
  } finally {
    button.disabled = false;
  }
});

renderRooms();
renderProducts();

renderHostOrders($("#host-orders"), $("#host-orders-empty")).catch(() => {});
