// The host's coupon form (docs/engagement.md, "Coupons"): amount off, or percent off with a
// cap; a minimum spend; how many; how long it is valid; optionally followers only. Dropped into
// the live room, it shows in the same card the viewers see (room-coupons.js), copies left
// ticking down as they claim.
import {api} from "./api.js";
import {formField, h, onSubmit, showFormErrors, submitting, toast} from "./dom.js";
import {formatMoney, parsePrice} from "./format.js";
import {t} from "./i18n.js";
import {mountRoomCoupons} from "./room-coupons.js";

function money(name, placeholder) {
  return h("input", {name, inputmode: "decimal", placeholder, "data-testid": `coupon-${name}`});
}

/** Mount the form and the live card in `body`; returns the card's state. */
export function mountHostCoupons({store, body, me, roomId, hostId, currency = "USD"}) {
  const kind = h("select", {name: "kind", "data-testid": "coupon-kind"},
                 h("option", {value: "amount"}, t("hostcoupon.kind_amount")),
                 h("option", {value: "percent"}, t("hostcoupon.kind_percent")));
  const amountField = formField(t("hostcoupon.amount_off"), money("amount_off_minor", "5.00"), "amount_off_minor");
  const percentField = formField(t("hostcoupon.percent_off"),
    h("input", {name: "percent_off", type: "number", min: "1", max: "100", value: "10", "data-testid": "coupon-percent_off"}),
    "percent_off");
  const capField = formField(t("hostcoupon.max_off"), money("max_off_minor", "20.00"), "max_off_minor");
  const form = h("form", {class: "engage-form", "data-testid": "coupon-form", autocomplete: "off"},
    h("h3", {class: "engage-title"}, t("hostcoupon.title")),
    h("div", {class: "field-row"}, formField(t("hostcoupon.kind"), kind, "kind"), amountField, percentField, capField),
    h("div", {class: "field-row"},
      formField(t("hostcoupon.min_spend"), money("min_spend_minor", "0.00"), "min_spend_minor"),
      formField(t("hostcoupon.quantity"), h("input", {name: "quantity", type: "number", min: "1", value: "100",
                                                  "data-testid": "coupon-quantity"}), "quantity"),
      formField(t("hostcoupon.valid_minutes"), h("input", {name: "valid_minutes", type: "number", min: "1", value: "60",
                                                       "data-testid": "coupon-valid"}), "valid_seconds")),
    h("label", {class: "check"}, h("input", {type: "checkbox", name: "followers_only", "data-testid": "coupon-followers"}),
      " ", t("hostcoupon.followers_only")),
    h("p", {class: "form-error", role: "alert"}),
    h("button", {type: "submit", class: "btn btn-primary", "data-testid": "drop-coupon"}, t("hostcoupon.drop")));

  function showKind() {
    const percent = kind.value === "percent";
    amountField.hidden = percent;
    percentField.hidden = !percent;
    capField.hidden = !percent;
  }
  kind.addEventListener("change", showKind);
  showKind();

  onSubmit(form, async (data) => {
    const payload = {kind: kind.value, currency, quantity: Number(data.get("quantity")),
                     valid_seconds: Math.round(Number(data.get("valid_minutes")) * 60),
                     followers_only: data.get("followers_only") === "on",
                     min_spend_minor: parsePrice(String(data.get("min_spend_minor") || "0"), currency) ?? 0};
    const priced = kind.value === "amount" ? ["amount_off_minor"] : ["max_off_minor"];
    for (const name of priced) {
      const value = parsePrice(String(data.get(name) || ""), currency);
      if (value === null || value <= 0) {
        showFormErrors(form, {field: name, message: t("hostcoupon.amount_hint", {example: formatMoney(500, currency)})});
        return;
      }
      payload[name] = value;
    }
    if (kind.value === "percent") payload.percent_off = Number(data.get("percent_off"));
    await submitting(form, async () => {
      await api("POST", `/api/rooms/${roomId}/coupons`, payload);
      toast(t("hostcoupon.dropped"), "success");
    });
  });

  const live = h("section", {class: "coupon-card", "data-testid": "coupons", hidden: true});
  body.replaceChildren(form, live);
  return mountRoomCoupons({store, slot: live, me, roomId, hostId});
}
