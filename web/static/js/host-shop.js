// The host's side of regular-price selling: a product's options (size, colour) and variants,
// each with its stock and optionally its own price; and the orders to ship, with the buyers'
// addresses, marked delivered once sent.
import {formatAddress} from "./address.js";
import {api} from "./api.js";
import {$, fieldErrorText, h, toast} from "./dom.js";
import {formatDateTime, formatMoney, majorAmount, parsePrice} from "./format.js";
import {errorText, has, t} from "./i18n.js";

function combinations(options) {
  let rows = [{}];
  for (const option of options) {
    rows = rows.flatMap((row) => option.values.map((value) => ({...row, [option.name]: value})));
  }
  return rows;
}

/** An API error in the reader's words; a refused field (a stock, a price) by its own words. */
function problemText(error) {
  const item = error && error.code === "invalid" && error.errors && error.errors[0];
  return item ? fieldErrorText(item) : errorText(error);
}

const keyOf = (options) => JSON.stringify(Object.keys(options).sort().map((name) => [name, options[name]]));

/** Open the variants editor of a product (a <dialog> built here, removed when closed). */
export async function editVariants(product) {
  const current = await api("GET", `/api/products/${product.id}/variants`);
  const known = new Map(current.variants.map((v) => [keyOf(v.options), v]));
  const optionRows = h("div", {class: "variant-options"});
  const table = h("tbody", {});
  const message = h("p", {class: "form-error", role: "alert", "data-testid": "variants-error"});

  function optionRow(option = {name: "", values: []}) {
    const row = h("div", {class: "field-row variant-option", "data-testid": "variant-option"},
      h("label", {class: "field"}, h("span", {class: "field-label"}, t("variants.option")),
        h("input", {name: "option-name", value: option.name, placeholder: t("variants.option_hint"), maxlength: "30"})),
      h("label", {class: "field"}, h("span", {class: "field-label"}, t("variants.values")),
        h("input", {name: "option-values", value: option.values.join(", "), placeholder: t("variants.values_hint")})));
    row.addEventListener("input", renderTable);
    return row;
  }

  function readOptions() {
    return [...optionRows.querySelectorAll(".variant-option")].map((row) => ({
      name: row.querySelector("[name=option-name]").value.trim(),
      values: [...new Set(row.querySelector("[name=option-values]").value.split(/[,，、]/).map((v) => v.trim()).filter(Boolean))],
    })).filter((o) => o.name && o.values.length);
  }

  function renderTable() {
    // Only when the combinations change: a re-render while the host types a stock would
    // replace the field under their cursor.
    const wanted = combinations(readOptions()).map(keyOf);
    const shown = [...table.querySelectorAll("tr")].map((tr) => tr.dataset.key);
    if (wanted.length === shown.length && wanted.every((key, i) => key === shown[i])) return;
    const kept = new Map([...table.querySelectorAll("tr")].map((tr) => [tr.dataset.key, {
      stock: tr.querySelector("[name=stock]").value, price: tr.querySelector("[name=price]").value}]));
    table.replaceChildren(...combinations(readOptions()).map((options) => {
      const key = keyOf(options);
      const old = known.get(key);
      const typed = kept.get(key);
      const label = Object.keys(options).sort().map((n) => options[n]).join(" / ") || t("variants.one_size");
      return h("tr", {dataset: {key}, "data-testid": "variant-row", "data-label": label},
        h("td", {}, label),
        h("td", {}, h("input", {name: "stock", type: "number", min: "0", class: "shop-qty",
                                "aria-label": t("variants.stock_of", {label}),
                                value: typed ? typed.stock : String(old ? old.stock : 0)})),
        h("td", {}, h("input", {name: "price", inputmode: "decimal", class: "shop-qty",
                                "aria-label": t("variants.price_of", {label}), placeholder: majorAmount(product.price_minor, product.currency),
                                value: typed ? typed.price : old && old.own_price ? majorAmount(old.price_minor, product.currency) : ""})),
        h("td", {class: "muted small"}, old && old.held !== null ? t("variants.held_sold", {held: old.held, sold: old.sold}) : ""));
    }));
  }

  for (const option of current.options) optionRows.append(optionRow(option));
  if (!current.options.length) optionRows.append(optionRow());
  renderTable();

  const dialog = h("dialog", {class: "dialog variants-dialog", "data-testid": "variants-dialog"},
    h("form", {method: "dialog", novalidate: true},
      h("h2", {}, t("variants.title", {title: product.title})),
      h("p", {class: "muted small"}, t("variants.help")),
      optionRows,
      h("button", {type: "button", class: "btn btn-ghost btn-sm", onclick: () => {
        if (optionRows.childElementCount < 3) optionRows.append(optionRow());
      }}, t("variants.add_option")),
      h("table", {class: "variants-table"}, h("thead", {}, h("tr", {}, h("th", {}, t("variants.variant")), h("th", {}, t("variants.stock")),
        h("th", {}, t("host.price_in", {currency: product.currency})), h("th", {}, ""))), table),
      message,
      h("div", {class: "dialog-actions"},
        h("button", {class: "btn btn-ghost", value: "close"}, t("common.close")),
        h("button", {type: "button", class: "btn btn-primary", "data-testid": "variants-save", onclick: save}, t("common.save")))));

  async function save() {
    message.textContent = "";
    const options = readOptions();
    const rows = [...table.querySelectorAll("tr")];
    const variants = [];
    for (const [index, tr] of rows.entries()) {
      const combo = combinations(options)[index];
      const priceText = tr.querySelector("[name=price]").value.trim();
      const price = priceText ? parsePrice(priceText, product.currency) : null;
      if (priceText && price === null) {
        message.textContent = t("variants.enter_price", {label: tr.dataset.label, example: formatMoney(1999, product.currency)});
        return;
      }
      variants.push({options: combo, stock: Number(tr.querySelector("[name=stock]").value) || 0,
                     ...(price !== null ? {price_minor: price} : {})});
    }
    try {
      await api("PUT", `/api/products/${product.id}/variants`, {options, variants});
      toast(t("variants.saved", {title: product.title}), "success");
      dialog.close();
    } catch (error) {
      const match = /^variants\[(\d+)\]/.exec(error.field || "");
      const row = match && rows[Number(match[1])];
      const why = problemText(error);
      message.textContent = row ? t("common.failed_because", {what: row.dataset.label, why}) : why;
    }
  }

  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

const shipStatus = (status) => (has(`shop.ship_status.${status}`) ? t(`shop.ship_status.${status}`)
  : status.replace("_", " "));

// Orders to ship --------------------------------------------------------------------------

export async function renderHostOrders(list, empty) {
  const reply = await api("GET", "/api/host/orders");
  const orders = reply.orders.filter((o) => o.status !== "cancelled" && o.status !== "expired");
  empty.hidden = orders.length > 0;
  list.replaceChildren(...orders.map((order) => h("li", {class: "catalog-row host-order", "data-testid": "host-order",
                                                         "data-order-id": String(order.id), "data-status": order.status},
    h("div", {class: "row-main"},
      h("span", {class: "row-title"}, `#${order.id} · ${formatMoney(order.amount_minor, order.currency)} · ${shipStatus(order.status)}`),
      h("span", {class: "row-sub"}, (order.lines || []).map((line) => `${line.quantity} × ${line.title}`).join(", ")),
      h("span", {class: "row-sub", "data-testid": "host-order-address"}, t("shop.ship_to", {address: formatAddress(order.shipping_address)})),
      h("span", {class: "row-sub"}, formatDateTime(order.created_at))),
    order.status === "paid" ? h("button", {type: "button", class: "btn btn-xs btn-primary", "data-testid": "host-order-complete",
      onclick: async () => {
        try {
          await api("POST", `/api/orders/${order.id}/complete`);
          toast(t("shop.ship_marked", {id: order.id}), "success");
        } catch (error) {
          toast(errorText(error), "error");
        }
        renderHostOrders(list, empty);
      }}, t("shop.ship_mark")) : null)));
}
