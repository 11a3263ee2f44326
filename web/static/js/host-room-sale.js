// Flash sales on the host's room page (the "Flash sales & live sales" card): a form to start a
// sale on a product of the lineup (sale price, quantity, per-person limit, start now or after a
// warm-up, duration), a Stop button, and the running sale's numbers moving live: stock left,
// held, sold, paid orders and GMV.
//
// The sale, its counters and the clock are the room store's (`sale` and `stock` events and the
// hello); this module keeps the earlier sales of the show and the orders count, fetched from
// GET /api/sales/{id}/orders again (at most every ORDERS_REFRESH_MS) when the counters move.
import {api} from "./api.js";
import {ask, clearFormErrors, h, showFormErrors, toast} from "./dom.js";
import {formatCountdown, formatMoney, majorAmount, parsePrice} from "./format.js";
import {errorText, t} from "./i18n.js";
import {ACTIVE_SALE_STATUSES} from "./store.js";

const TICK_MS = 250;
// The orders list is the whole sale's: a busy sale asks for it at most this often. GMV does not
// wait for it (sold units times the sale price, from the live counters).
const ORDERS_REFRESH_MS = 3000;
const PAID = new Set(["paid", "completed"]);

/** Run the flash-sale card whose contents go in `body`; returns its own state. */
export function mountHostSales({store, body, roomId}) {
  const mine = {
    past: [],          // earlier sales, newest first
    orders: null,      // {count, pending}: paid and unpaid orders of the current sale
    busy: false,
    current: null,     // the sale (with its last counters) this card shows
  };
  const n = {};

  function lineup() {
    return store.state.lineup || [];
  }

  function productOf(sale) {
    return lineup().find((p) => p.id === sale.product_id) || null;
  }

  function active() {
    const phase = store.salePhase();
    return phase !== null && phase !== "ended";
  }

  /** A new sale in the store moves the one shown before it to the earlier sales. */
  function followSale() {
    const sale = store.state.sale;
    if (!sale) return;
    const before = mine.current;
    if (before && before.id !== sale.id) {
      if (!mine.past.some((s) => s.id === before.id)) mine.past.unshift(before);
      mine.orders = null;
    }
    mine.past = mine.past.filter((s) => s.id !== sale.id);
    mine.current = {...sale, ...(store.counters() || {})};
  }

  // Building the card ----------------------------------------------------------------------------

  function field(label, control, name, hint) {
    return h("label", {class: "field"},
      h("span", {class: "field-label"}, label), control,
      hint ? h("span", {class: "field-hint", dataset: {hintFor: name}}, hint) : null,
      h("span", {class: "field-error", "data-error-for": name}));
  }

  function stat(label, key) {
    const value = h("span", {class: "ls-stat-value", "data-testid": `host-sale-${key}`}, "0");
    n[`stat_${key}`] = value;
    return h("div", {class: "ls-stat"}, h("span", {class: "ls-stat-label"}, label), value);
  }

  function build() {
    n.product = h("select", {name: "product_id", "data-testid": "sale-product", onchange: productChanged});
    // A product with sizes or colours: the one whose units the sale takes (docs/decisions/0021).
    n.variant = h("select", {name: "variant_id", "data-testid": "sale-variant", onchange: variantChanged});
    n.variantField = field(t("pool.variant"), n.variant, "variant_id");
    n.variantField.hidden = true;
    n.price = h("input", {name: "price_minor", inputmode: "decimal", autocomplete: "off", placeholder: t("hostsale.price_hint"),
                          "data-testid": "sale-price-input", required: true});
    n.quantity = h("input", {name: "quantity", type: "number", min: "1", step: "1", value: "10",
                             "data-testid": "sale-quantity", required: true});
    n.limit = h("input", {name: "per_user_limit", type: "number", min: "1", max: "100", step: "1", value: "1",
                          "data-testid": "sale-limit", required: true});
    n.startMode = h("select", {name: "start_mode", "data-testid": "sale-start-mode", onchange: startModeChanged},
      h("option", {value: "now"}, t("hostsale.now")), h("option", {value: "later"}, t("hostsale.after_countdown")));
    n.startIn = h("input", {name: "start_in_seconds", type: "number", min: "1", step: "1", value: "5",
                            "data-testid": "sale-start-in", "aria-label": t("hostsale.countdown_length")});
    n.startUnit = h("select", {name: "start_unit", "aria-label": t("hostsale.countdown_unit"), "data-testid": "sale-start-unit"},
      h("option", {value: "1"}, t("hostsale.seconds")), h("option", {value: "60", selected: true}, t("hostsale.minutes")));
    n.startLater = h("div", {class: "ls-inline", hidden: true}, n.startIn, n.startUnit);
    n.duration = h("input", {name: "duration_seconds", type: "number", min: "1", step: "1", value: "5",
                             "data-testid": "sale-duration", "aria-label": t("hostsale.duration"), required: true});
    n.durationUnit = h("select", {name: "duration_unit", "aria-label": t("hostsale.duration_unit"), "data-testid": "sale-duration-unit"},
      h("option", {value: "1"}, t("hostsale.seconds")), h("option", {value: "60", selected: true}, t("hostsale.minutes")),
      h("option", {value: "3600"}, t("hostsale.hours")));
    n.submit = h("button", {type: "submit", class: "btn btn-live", "data-testid": "sale-start"}, t("hostsale.start"));
    n.form = h("form", {class: "ls-form", "data-testid": "sale-form", novalidate: true, autocomplete: "off"},
      field(t("hostsale.product"), n.product, "product_id"),
      n.variantField,
      h("div", {class: "ls-grid-3"},
        field(t("hostsale.sale_price"), n.price, "price_minor", " "),
        field(t("hostsale.quantity"), n.quantity, "quantity", " "),
        field(t("hostsale.per_person"), n.limit, "per_user_limit", t("hostsale.per_person_hint"))),
      h("div", {class: "field-row"},
        h("div", {class: "field"},
          h("span", {class: "field-label"}, t("hostsale.start_label")),
          h("div", {class: "ls-inline"}, n.startMode),
          n.startLater,
          h("span", {class: "field-hint"}, t("hostsale.start_hint")),
          h("span", {class: "field-error", "data-error-for": "start_in_seconds"}),
          h("span", {class: "field-error", "data-error-for": "starts_at"})),
        h("div", {class: "field"},
          h("span", {class: "field-label"}, t("hostsale.duration")),
          h("div", {class: "ls-inline"}, n.duration, n.durationUnit),
          h("span", {class: "field-error", "data-error-for": "duration_seconds"}))),
      h("p", {class: "form-error", role: "alert"}),
      h("div", {class: "ls-form-actions"}, n.submit));
    n.form.addEventListener("submit", startSale);
    n.noProducts = h("p", {class: "muted small", hidden: true},
                     t("hostsale.no_products"));

    n.liveTitle = h("span", {class: "ls-live-title", "data-testid": "host-sale-product"});
    n.phase = h("span", {class: "ls-phase", "data-testid": "host-sale-phase"});
    n.terms = h("p", {class: "ls-live-terms", "data-testid": "host-sale-terms"});
    n.fill = h("span", {class: "ls-bar-fill"});
    n.bar = h("div", {class: "ls-bar", role: "progressbar", "aria-label": t("hostsale.stock_left"), "aria-valuemin": "0"}, n.fill);
    n.stop = h("button", {type: "button", class: "btn btn-danger btn-sm", "data-testid": "sale-stop", onclick: stopSale},
               t("hostsale.stop"));
    n.newSale = h("button", {type: "button", class: "btn btn-ghost btn-sm", "data-testid": "sale-new",
                             onclick: () => { n.form.hidden = false; n.newSale.hidden = true; n.price.focus(); }},
                  t("hostsale.new"));
    n.live = h("div", {class: "ls-live", "data-testid": "host-sale", hidden: true},
      h("div", {class: "ls-live-head"}, h("span", {class: "ls-sale-badge"}, t("hostsale.badge")), n.liveTitle, n.phase),
      n.terms, n.bar,
      h("div", {class: "ls-stats"},
        stat(t("hostsale.left"), "remaining"), stat(t("hostsale.held"), "held"), stat(t("hostsale.sold"), "sold"),
        stat(t("hostsale.paid_orders"), "orders"), stat(t("hostsale.gmv"), "gmv")),
      h("div", {class: "ls-live-actions"}, n.newSale, n.stop));
    n.pastList = h("ul", {class: "ls-past", "data-testid": "host-past-sales"});
    n.past = h("div", {hidden: true}, h("p", {class: "ls-past-title"}, t("hostsale.earlier")), n.pastList);
    n.root = h("div", {class: "ls-host"}, n.live, n.noProducts, n.form, n.past);
    body.replaceChildren(n.root);
  }

  // The form ---------------------------------------------------------------------------------------

  function selectedProduct() {
    const id = Number(n.product.value);
    return lineup().find((p) => p.id === id) || null;
  }

  let productsShown = null;

  function renderProducts() {
    const products = lineup();
    const pin = store.state.pin;
    const ended = store.state.room.status === "ended";
    // Rebuilt only when the lineup changes: a stock tick must not close an open dropdown.
    const signature = JSON.stringify([products.map((p) => [p.id, p.title, p.price_minor, p.stock]), pin && pin.id, ended]);
    if (signature === productsShown) return;
    productsShown = signature;
    const keep = n.product.value;
    n.product.replaceChildren(...products.map((p) => h("option", {value: p.id},
      t("hostsale.product_option", {title: p.title, price: formatMoney(p.price_minor, p.currency), stock: p.stock}))));
    if (products.some((p) => String(p.id) === keep)) n.product.value = keep;
    else if (pin && products.some((p) => p.id === pin.id)) n.product.value = String(pin.id);
    n.noProducts.hidden = products.length > 0;
    n.submit.disabled = products.length === 0 || ended;
    productChanged();
  }

  // The selected product's variants with their units left (GET /api/products/{id}/variants).
  let variants = null;

  async function productChanged() {
    const product = selectedProduct();
    const priceHint = n.form.querySelector('[data-hint-for="price_minor"]');
    variants = null;
    n.variantField.hidden = true;
    if (!product) {
      priceHint.textContent = " ";
      variantChanged();
      return;
    }
    n.price.placeholder = majorAmount(Math.round(product.price_minor / 2), product.currency);
    priceHint.textContent = t("hostsale.regular", {price: formatMoney(product.price_minor, product.currency)});
    variantChanged();
    let data;
    try {
      data = await api("GET", `/api/products/${product.id}/variants`);
    } catch {
      return;  // the units left stay the lineup's; the server checks them anyway
    }
    // (the lineup may have been replaced meanwhile: the same product is a new object)
    if (!selectedProduct() || selectedProduct().id !== product.id) return;
    variants = data;
    const keep = n.variant.value;
    n.variant.replaceChildren(...data.variants.map((v) => h("option", {value: v.id},
      t("pool.variant_option", {label: v.label || Object.values(v.options).join(" / "), count: v.remaining ?? v.stock}))));
    if (data.variants.some((v) => String(v.id) === keep)) n.variant.value = keep;
    n.variantField.hidden = data.options.length === 0;
    variantChanged();
  }

  /** The units the sale may take: the chosen variant's left (the product's only one's). */
  function unitsLeft() {
    const product = selectedProduct();
    if (!product) return null;
    if (!variants) return store.unitsLeft(product);
    const variant = variants.options.length
      ? variants.variants.find((v) => String(v.id) === n.variant.value)
      : variants.variants[0];
    return variant ? variant.remaining ?? variant.stock : 0;
  }

  function variantChanged() {
    const quantityHint = n.form.querySelector('[data-hint-for="quantity"]');
    const left = unitsLeft();
    quantityHint.textContent = left === null ? " " : t("hostsale.in_stock", {count: left});
    n.quantity.max = String(Math.max(1, left || 0));
  }

  function startModeChanged() {
    n.startLater.hidden = n.startMode.value !== "later";
  }

  function fieldError(name, message) {
    return {errors: [{field: name, message}], message};
  }

  /** The request body, or a form error to show next to the field at fault. */
  function readForm() {
    const product = selectedProduct();
    if (!product) return {error: fieldError("product_id", t("hostsale.pick_product"))};
    const price = parsePrice(n.price.value, product.currency);
    if (price === null || n.price.value.trim() === "") {
      return {error: fieldError("price_minor", t("hostsale.enter_price", {example: formatMoney(Math.round(product.price_minor / 2), product.currency)}))};
    }
    const quantity = Number(n.quantity.value);
    if (!Number.isInteger(quantity) || quantity < 1) return {error: fieldError("quantity", t("hostsale.at_least_one"))};
    const withOptions = variants && variants.options.length > 0;
    if (withOptions && !n.variant.value) return {error: fieldError("variant_id", t("pool.pick_variant"))};
    const left = unitsLeft();
    if (left !== null && quantity > left) {
      return {error: fieldError("quantity", t("hostsale.only_in_stock", {count: left}))};
    }
    const limit = Number(n.limit.value);
    if (!Number.isInteger(limit) || limit < 1) return {error: fieldError("per_user_limit", t("hostsale.at_least_one_pp"))};
    const duration = Number(n.duration.value) * Number(n.durationUnit.value);
    if (!Number.isFinite(duration) || duration <= 0 || !Number.isInteger(duration)) {
      return {error: fieldError("duration_seconds", t("hostsale.how_long"))};
    }
    const data = {product_id: product.id, price_minor: price, quantity, per_user_limit: limit,
                  duration_seconds: duration};
    if (withOptions) data.variant_id = Number(n.variant.value);
    if (n.startMode.value === "later") {
      const wait = Number(n.startIn.value) * Number(n.startUnit.value);
      if (!Number.isFinite(wait) || wait <= 0 || !Number.isInteger(wait)) {
        return {error: fieldError("start_in_seconds", t("hostsale.how_long_countdown"))};
      }
      data.start_in_seconds = wait;
    }
    return {data};
  }

  async function startSale(event) {
    event.preventDefault();
    if (mine.busy) return;
    clearFormErrors(n.form);
    const {data, error} = readForm();
    if (error) {
      showFormErrors(n.form, error);
      return;
    }
    mine.busy = true;
    n.submit.disabled = true;
    try {
      let sale;
      try {
        sale = await api("POST", `/api/rooms/${roomId}/sales`, data);
      } catch (err) {
        // Above the regular price is almost always a typo (an extra zero): the API asks for an
        // explicit yes, and so does the host's screen.
        if (err.code !== "price_above_regular") throw err;
        const regular = err.detail && err.detail.regular_price_minor;
        const product = lineup().find((p) => p.id === data.product_id) || null;
        const currency = product ? product.currency : "USD";
        const sure = await ask({
          title: t("hostsale.above_title"),
          text: t("hostsale.above_text", {
            price: formatMoney(data.price_minor, currency),
            regular: typeof regular === "number" ? formatMoney(regular, currency) : t("hostsale.the_price")}),
          yes: t("hostsale.above_yes"), no: t("hostsale.above_no"), testid: "price-above"});
        if (!sure) throw err;
        sale = await api("POST", `/api/rooms/${roomId}/sales`, {...data, confirm_above_regular: true});
      }
      store.setClock(sale.server_time_ms);
      store.takeSale(sale);
      n.price.value = "";
      toast(data.start_in_seconds ? t("hostsale.scheduled") : t("hostsale.live"), "success");
      refreshOrders();
    } catch (err) {
      // The API names the field at fault; quantity and price errors land next to those inputs.
      showFormErrors(n.form, err);
    } finally {
      mine.busy = false;
      productsShown = null;  // the submit button's state is worked out again
      render();
    }
  }

  async function stopSale() {
    const sale = store.state.sale;
    if (!sale || mine.busy) return;
    mine.busy = true;
    n.stop.disabled = true;
    try {
      const stopped = await api("POST", `/api/sales/${sale.id}/stop`);
      store.setClock(stopped.server_time_ms);
      store.takeSale(stopped);
      toast(t("hostsale.over"), "success");
      refreshOrders();
    } catch (err) {
      toast(t("common.failed_because", {what: t("hostsale.fail.stop"), why: errorText(err)}), "error", 6000);
    } finally {
      mine.busy = false;
      n.stop.disabled = false;
      render();
    }
  }

  // Orders and GMV ---------------------------------------------------------------------------------

  let ordersTimer = null;
  let ordersLoading = false;
  let ordersAgain = false;
  let ordersLoadedAt = -Infinity;

  function refreshOrders() {
    if (ordersTimer) return;
    const wait = Math.max(0, ordersLoadedAt + ORDERS_REFRESH_MS - Date.now());
    ordersTimer = setTimeout(loadOrders, ordersLoading ? ORDERS_REFRESH_MS : wait);
  }

  async function loadOrders() {
    ordersTimer = null;
    const sale = store.state.sale;
    if (!sale) return;
    if (ordersLoading) {
      ordersAgain = true;
      return;
    }
    ordersLoading = true;
    ordersLoadedAt = Date.now();
    try {
      const result = await api("GET", `/api/sales/${sale.id}/orders`);
      if (store.state.sale && store.state.sale.id === sale.id) {
        const orders = result.orders || [];
        mine.orders = {
          count: orders.filter((o) => PAID.has(o.status)).length,
          pending: orders.filter((o) => o.status === "pending_payment").length,
        };
        render();
      }
    } catch {
      // The next stock event asks again.
    } finally {
      ordersLoading = false;
      // Changes seen while loading: once more, after a pause, so a busy sale costs one call per interval.
      if (ordersAgain) {
        ordersAgain = false;
        ordersTimer = setTimeout(loadOrders, ORDERS_REFRESH_MS);
      }
    }
  }

  // Rendering -----------------------------------------------------------------------------------------

  function setStat(key, text) {
    const node = n[`stat_${key}`];
    if (node.textContent === text) return;
    node.textContent = text;
    node.classList.remove("bump");
    void node.offsetWidth;
    node.classList.add("bump");
  }

  function render() {
    followSale();
    renderProducts();
    const sale = store.state.sale;
    const on = active();
    n.live.hidden = !sale;
    if (!sale) {
      n.form.hidden = false;
      n.newSale.hidden = true;
    } else {
      if (on) n.form.hidden = true;
      else if (n.form.hidden && n.newSale.hidden) n.newSale.hidden = false;
      if (on) n.newSale.hidden = true;
      n.stop.hidden = !on;
      n.live.dataset.phase = store.salePhase();
      n.live.dataset.saleId = String(sale.id);
      const product = productOf(sale);
      n.liveTitle.textContent = product ? product.title : t("hostsale.product_n", {id: sale.product_id});
      const regular = product && product.currency === sale.currency
        ? t("hostsale.regular_paren", {price: formatMoney(product.price_minor, product.currency)}) : "";
      n.terms.replaceChildren(
        h("strong", {}, formatMoney(sale.price_minor, sale.currency)), regular,
        t("hostsale.terms", {quantity: sale.quantity, limit: sale.per_user_limit}));
      const count = store.counters() || {remaining: sale.quantity, reserved: 0, sold: 0};
      const remaining = Math.max(0, count.remaining);
      const share = sale.quantity > 0 ? remaining / sale.quantity : 0;
      n.fill.style.setProperty("width", `${(share * 100).toFixed(1)}%`);
      n.bar.dataset.level = share <= 0 ? "out" : share <= 0.2 ? "low" : "ok";
      n.bar.setAttribute("aria-valuemax", String(sale.quantity));
      n.bar.setAttribute("aria-valuenow", String(remaining));
      setStat("remaining", `${remaining}/${sale.quantity}`);
      setStat("held", String(count.reserved));
      setStat("sold", String(count.sold));
      setStat("orders", mine.orders ? String(mine.orders.count) : "–");
      setStat("gmv", formatMoney(count.sold * sale.price_minor, sale.currency));
    }
    n.past.hidden = mine.past.length === 0;
    n.pastList.replaceChildren(...mine.past.slice(0, 5).map((s) => {
      const product = productOf(s);
      const sold = typeof s.sold === "number" ? s.sold : null;
      return h("li", {},
        h("span", {}, t("hostsale.past_at", {title: product ? product.title : t("hostsale.product_n", {id: s.product_id}),
                                             price: formatMoney(s.price_minor, s.currency)})),
        h("span", {class: "muted"}, sold === null ? t("hostsale.units", {count: s.quantity})
          : t("hostsale.sold_of", {sold, total: s.quantity})));
    }));
    tick();
    schedule();
  }

  let ticker = null;
  let lastPhase = null;

  function tick() {
    const sale = store.state.sale;
    if (!sale) return;
    const current = store.salePhase();
    if (lastPhase !== null && current !== lastPhase) {
      lastPhase = current;
      render();
      return;
    }
    lastPhase = current;
    const now = store.serverNow();
    const time = formatCountdown((current === "warmup" ? sale.starts_at_ms : sale.ends_at_ms) - now);
    const text = current ? t(`hostsale.phase.${current}`, {time}) : "";
    if (n.phase.textContent !== text) n.phase.textContent = text;
    n.phase.dataset.phase = current;
  }

  function schedule() {
    const sale = store.state.sale;
    const ticking = sale && ACTIVE_SALE_STATUSES.has(sale.status);
    if (ticking && !ticker) ticker = setInterval(tick, TICK_MS);
    else if (!ticking && ticker) {
      clearInterval(ticker);
      ticker = null;
    }
  }

  // Live updates -----------------------------------------------------------------------------------

  let countersSeen = null;

  store.on("sale", () => {
    const count = store.counters();
    // A new sale, or a paid order moving `sold`/`reserved`: that is when the orders and GMV change.
    const seen = store.state.sale ? JSON.stringify([store.state.sale.id, store.state.sale.status,
                                                    count && count.sold, count && count.reserved]) : null;
    if (seen !== null && seen !== countersSeen) refreshOrders();
    countersSeen = seen;
    render();
  });
  store.on("lineup", render);
  store.on("pin", render);
  // Buyers hold and give back units all show long: the form's units left follow them.
  store.on("units", (units) => {
    const product = selectedProduct();
    if (!variants || !product || product.id !== units.product_id) return;
    const left = new Map(units.variants.map((v) => [v.id, v.remaining]));
    for (const option of n.variant.options) {
      const variant = variants.variants.find((v) => String(v.id) === option.value);
      if (variant && left.has(variant.id)) {
        variant.remaining = left.get(variant.id);
        option.textContent = t("pool.variant_option", {label: variant.label || Object.values(variant.options).join(" / "), count: variant.remaining});
      }
    }
    for (const variant of variants.variants) {
      if (left.has(variant.id)) variant.remaining = left.get(variant.id);
    }
    variantChanged();
  });
  store.on("room", render);

  async function loadSales() {
    try {
      const sent = Date.now();
      const result = await api("GET", `/api/rooms/${roomId}/sales`);
      const sales = result.sales || [];
      if (sales.length === 0) return;
      // Half the round trip: the server's clock when its reply was written.
      store.clockOffsetMs = sales[0].server_time_ms - (sent + Date.now()) / 2;
      const [newest, ...older] = sales;
      mine.past = older;
      if (!store.state.sale || store.state.sale.id === newest.id) {
        store.takeSale(newest, store.state.stock);
      } else {
        render();
      }
    } catch (err) {
      toast(t("common.failed_because", {what: t("hostsale.fail.load"), why: errorText(err)}), "error", 6000);
    }
  }

  build();
  startModeChanged();
  render();
  loadSales();
  return mine;
}
