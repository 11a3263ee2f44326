// The host's group deals (docs/social.md, "Group buys"): offer one on a lineup product (the
// group price, the group size, how long a group stays open, the units it may use, taken from
// the product's stock now), see each deal's units and end it. The viewers' card (room-groups.js)
// shows the pinned product's deal and its open groups.
import {api} from "./api.js";
import {formField, h, onSubmit, showFormErrors, submitting, toast} from "./dom.js";
import {formatMoney, parsePrice} from "./format.js";
import {t} from "./i18n.js";

/** Mount the form and the room's deals in `body`. */
export function mountHostGroups({store, body, roomId}) {
  const product = h("select", {name: "product_id", "data-testid": "group-deal-product"});
  const form = h("form", {class: "engage-form", "data-testid": "group-deal-form", autocomplete: "off"},
    h("div", {class: "field-row"},
      formField(t("hostgroup.product"), product, "product_id"),
      formField(t("hostgroup.price"), h("input", {name: "price", inputmode: "decimal", placeholder: "9.90",
                                               "data-testid": "group-deal-price"}), "price_minor")),
    h("div", {class: "field-row"},
      formField(t("hostgroup.size"), h("input", {name: "group_size", type: "number", min: "2", max: "10", value: "3",
                                              "data-testid": "group-deal-size"}), "group_size"),
      formField(t("hostgroup.open_minutes"), h("input", {name: "open_minutes", type: "number", min: "1", value: "60",
                                                      "data-testid": "group-deal-minutes"}), "open_seconds"),
      formField(t("hostgroup.units"), h("input", {name: "units", type: "number", min: "2", value: "30",
                                               "data-testid": "group-deal-units"}), "units")),
    h("p", {class: "form-error", role: "alert"}),
    h("button", {type: "submit", class: "btn btn-primary", "data-testid": "group-deal-offer"}, t("hostgroup.offer")));
  const list = h("ul", {class: "group-list", "data-testid": "host-group-deals"});

  function products() {
    const lineup = store.state.lineup || [];
    const chosen = product.value;
    product.replaceChildren(...lineup.map((p) => h("option", {value: String(p.id)}, p.title)));
    if (lineup.some((p) => String(p.id) === chosen)) product.value = chosen;
  }

  async function load() {
    try {
      const reply = await api("GET", `/api/rooms/${roomId}/groups`);
      const titles = new Map((store.state.lineup || []).map((p) => [p.id, p.title]));
      list.replaceChildren(...reply.deals.map((deal) => h("li", {class: "group-row", "data-testid": "host-group-deal"},
        h("span", {}, t("hostgroup.deal_line", {
          product: titles.get(deal.product_id) || "", price: formatMoney(deal.price_minor, deal.currency),
          size: deal.group_size, available: deal.available ?? 0, sold: deal.sold ?? 0})),
        h("button", {type: "button", class: "btn btn-ghost btn-xs", "data-testid": "group-deal-end",
                     onclick: () => end(deal)}, t("hostgroup.end")))));
    } catch (err) {
      console.warn("livesell: could not load the room's group deals", err);
    }
  }

  async function end(deal) {
    try {
      await api("POST", `/api/group-deals/${deal.id}/end`);
      toast(t("hostgroup.ended"), "success");
    } catch (err) {
      toast(err.message, "error");
    }
    load();
  }

  onSubmit(form, async (data) => {
    const chosen = (store.state.lineup || []).find((p) => String(p.id) === product.value);
    const currency = chosen ? chosen.currency : "USD";
    const price = parsePrice(String(data.get("price") || ""), currency);
    if (price === null) {
      showFormErrors(form, {field: "price_minor", message: t("hostgroup.price_hint", {example: formatMoney(990, currency)})});
      return;
    }
    await submitting(form, async () => {
      await api("POST", `/api/rooms/${roomId}/group-deals`, {
        product_id: Number(product.value), price_minor: price, group_size: Number(data.get("group_size")),
        open_seconds: Math.round(Number(data.get("open_minutes")) * 60), units: Number(data.get("units"))});
      toast(t("hostgroup.offered"), "success");
      load();
    });
  });

  store.on("lineup", () => { products(); load(); });
  store.on("reset", () => { products(); load(); });
  store.on("frame", (frame) => { if (frame.type === "group" && frame.data && frame.data.deal) load(); });
  products();
  body.replaceChildren(form, list);
  load();
}
