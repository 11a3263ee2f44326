// The host's bargains (docs/social.md, "Bargaining"): offer a lineup product (one of its
// variants) from a starting price down to a floor that a number of friends reach, until a
// deadline; the room's open offers are listed with the link a buyer starts from, the bargains
// started on each, and Withdraw (no new bargain starts; those started keep their deadline).
// The list follows the room's `bargain_offer` events (an offer made or withdrawn elsewhere).
import {api} from "./api.js";
import {ask, clearFormErrors, formField, h, showFormErrors, toast} from "./dom.js";
import {formatMoney, majorAmount, parsePrice} from "./format.js";
import {errorText, t} from "./i18n.js";

/** Mount the form and the list of open offers in `body`. */
export function mountHostBargains({store, body, roomId}) {
  const product = h("select", {name: "product_id", "data-testid": "bargain-product"});
  const variant = h("select", {name: "variant_id", "data-testid": "bargain-variant"});
  const variantField = formField(t("hostbargain.variant"), variant, "variant_id");
  const start = h("input", {name: "start_price_minor", inputmode: "decimal", "data-testid": "bargain-start-price"});
  const floor = h("input", {name: "floor_price_minor", inputmode: "decimal", "data-testid": "bargain-floor-price"});
  const helpers = h("input", {name: "helpers_needed", type: "number", min: "1", max: "50", value: "5",
                              "data-testid": "bargain-helpers"});
  const hours = h("input", {name: "hours", type: "number", min: "1", max: "720", value: "24",
                            "data-testid": "bargain-hours"});
  const list = h("ul", {class: "bargain-offers", "data-testid": "bargain-offers"});
  const form = h("form", {class: "engage-form", "data-testid": "bargain-form", autocomplete: "off"},
    h("p", {class: "muted small"}, t("hostbargain.help_text")),
    h("div", {class: "field-row"}, formField(t("hostbargain.product"), product, "product_id"), variantField),
    h("div", {class: "field-row"},
      formField(t("hostbargain.start_price"), start, "start_price_minor"),
      formField(t("hostbargain.floor_price"), floor, "floor_price_minor"),
      formField(t("hostbargain.helpers"), helpers, "helpers_needed"),
      formField(t("hostbargain.hours"), hours, "ends_at")),
    h("p", {class: "form-error", role: "alert"}),
    h("button", {type: "submit", class: "btn btn-primary", "data-testid": "enable-bargain"}, t("hostbargain.enable")));
  body.replaceChildren(form, list);

  const chosen = () => (store.state.lineup || []).find((p) => String(p.id) === product.value) || null;

  async function showVariants() {
    const picked = chosen();
    variant.replaceChildren();
    variantField.hidden = true;
    if (!picked) return;
    start.value = String(majorAmount(picked.price_minor, picked.currency));
    const {variants} = await api("GET", `/api/products/${picked.id}/variants`);
    const active = variants.filter((v) => v.active !== false);
    variant.replaceChildren(...active.map((v) => h("option", {value: v.id},
      Object.values(v.options || {}).join(" / ") || picked.title)));
    variantField.hidden = active.length < 2;
  }

  function showProducts() {
    const keep = product.value;
    product.replaceChildren(...(store.state.lineup || []).map((p) => h("option", {value: p.id}, p.title)));
    if (keep && [...product.options].some((o) => o.value === keep)) product.value = keep;
    showVariants().catch(() => {});
  }

  async function withdraw(offer, button) {
    if (!await ask({title: t("hostbargain.withdraw_title", {title: offer.title}),
                    text: t("hostbargain.withdraw_confirm"), yes: t("hostbargain.withdraw"),
                    danger: true, testid: "bargain-withdraw-ask"})) return;
    button.disabled = true;
    try {
      await api("POST", `/api/bargain-offers/${offer.id}/withdraw`);
      toast(t("hostbargain.withdrawn"), "success");
      await showOffers();
    } catch (err) {
      button.disabled = false;
      toast(errorText(err), "error");
    }
  }

  async function showOffers() {
    const {offers} = await api("GET", `/api/rooms/${roomId}/bargain-offers`);
    list.replaceChildren(...offers.map((offer) => h("li", {"data-testid": "bargain-offer-item", "data-offer-id": offer.id},
      h("a", {href: `/bargain-offers/${offer.id}`}, offer.title), " ",
      h("span", {class: "muted small"}, t("hostbargain.offer_line", {
        start: formatMoney(offer.start_price_minor, offer.currency),
        floor: formatMoney(offer.floor_price_minor, offer.currency), count: offer.helpers_needed})), " ",
      h("span", {class: "muted small", "data-testid": "bargain-offer-count"}, t("hostbargain.bargains", {count: offer.bargains || 0})), " ",
      h("button", {type: "button", class: "btn btn-ghost btn-xs", "data-testid": "bargain-withdraw",
                   onclick: (event) => withdraw(offer, event.currentTarget)}, t("hostbargain.withdraw")))));
  }

  product.addEventListener("change", () => showVariants().catch(() => {}));
  store.on("lineup", showProducts);
  store.on("bargain_offer", () => showOffers().catch(() => {}));
  showProducts();
  showOffers().catch(() => {});

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    const picked = chosen();
    if (!picked) {
      showFormErrors(form, {field: "product_id", message: t("hostbargain.pick_product")});
      return;
    }
    const payload = {product_id: picked.id, helpers_needed: Number(helpers.value),
                     ends_at: new Date(Date.now() + Number(hours.value) * 3600 * 1000).toISOString()};
    if (variant.value) payload.variant_id = Number(variant.value);
    for (const [name, input] of [["start_price_minor", start], ["floor_price_minor", floor]]) {
      const value = parsePrice(input.value.trim(), picked.currency);
      if (value === null) {
        showFormErrors(form, {field: name, message: t("hostbargain.amount_hint", {example: formatMoney(500, picked.currency)})});
        return;
      }
      payload[name] = value;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api("POST", `/api/rooms/${roomId}/bargain-offers`, payload);
      toast(t("hostbargain.enabled"), "success");
      await showOffers();
    } catch (err) {
      showFormErrors(form, err);
    } finally {
      button.disabled = false;
    }
  });
}
