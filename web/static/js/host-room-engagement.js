// The host's controls for red envelope rains and lucky draws (docs/engagement.md): drop a
// rain (envelopes, pool, countdown, length), start a draw (prize, winners, entry rule,
// countdown), and follow both live with the same card the viewers see.
import {api} from "./api.js";
import {formField, h, onSubmit, showFormErrors, submitting, toast} from "./dom.js";
import {formatMoney, parsePrice} from "./format.js";
import {t} from "./i18n.js";
import {mountRoomEngagement} from "./room-engagement.js";

const CURRENCIES = ["USD", "EUR", "GBP", "CNY", "JPY"];

function numberInput(name, value, attrs = {}) {
  return h("input", {name, type: "number", inputmode: "numeric", value: String(value),
                     "data-testid": `engage-${name}`, ...attrs});
}

/** Mount the forms and the live card in `body`; returns the live card's state. */
export function mountHostEngagement({store, body, me, roomId, hostId, currency = "USD"}) {
  // Rain ---------------------------------------------------------------------------------
  const currencySelect = h("select", {name: "currency", "data-testid": "engage-currency"},
                           ...[...new Set([currency, ...CURRENCIES])].map((c) => h("option", {value: c}, c)));
  const pool = h("input", {name: "total_minor", inputmode: "decimal", placeholder: "100.00",
                           "data-testid": "engage-pool"});
  const rainForm = h("form", {class: "engage-form", "data-testid": "rain-form", autocomplete: "off"},
    h("h3", {class: "engage-title"}, t("hostengage.rain_title")),
    h("div", {class: "field-row"},
      formField(t("hostengage.envelopes"), numberInput("envelope_count", 20, {min: "1"}), "envelope_count"),
      formField(t("hostengage.pool"), pool, "total_minor"),
      formField(t("hostengage.currency"), currencySelect, "currency")),
    h("div", {class: "field-row"},
      formField(t("hostengage.opens_in"), numberInput("countdown_seconds", 10, {min: "0", max: "600"}), "countdown_seconds"),
      formField(t("hostengage.open_for"), numberInput("duration_seconds", 30, {min: "1", max: "600"}), "duration_seconds")),
    h("p", {class: "form-error", role: "alert"}),
    h("button", {type: "submit", class: "btn btn-primary", "data-testid": "drop-rain"}, t("hostengage.drop_rain")));

  onSubmit(rainForm, async (data) => {
    const cur = String(data.get("currency"));
    const total = parsePrice(String(data.get("total_minor") || ""), cur);
    if (total === null || total <= 0) {
      showFormErrors(rainForm, {field: "total_minor", message: t("hostengage.pool_hint", {example: formatMoney(10000, cur)})});
      return;
    }
    await submitting(rainForm, async () => {
      await api("POST", `/api/rooms/${roomId}/rains`, {
        envelope_count: Number(data.get("envelope_count")), total_minor: total, currency: cur,
        countdown_seconds: Number(data.get("countdown_seconds")),
        duration_seconds: Number(data.get("duration_seconds")),
      });
      toast(t("hostengage.rain_dropped"), "success");
    });
  });

  // Draw ---------------------------------------------------------------------------------
  const rule = h("select", {name: "rule", "data-testid": "engage-rule"},
                 h("option", {value: "in_room"}, t("hostengage.rule_in_room")),
                 h("option", {value: "keyword"}, t("hostengage.rule_keyword")),
                 h("option", {value: "follows"}, t("hostengage.rule_follows")));
  const keyword = h("input", {name: "keyword", maxlength: "40", placeholder: t("hostengage.keyword_example"),
                              "data-testid": "engage-keyword"});
  const keywordField = formField(t("hostengage.keyword"), keyword, "keyword");
  keywordField.hidden = true;
  rule.addEventListener("change", () => { keywordField.hidden = rule.value !== "keyword"; });
  const drawForm = h("form", {class: "engage-form", "data-testid": "draw-form", autocomplete: "off"},
    h("h3", {class: "engage-title"}, t("hostengage.draw_title")),
    formField(t("hostengage.prize"), h("input", {name: "prize", maxlength: "200", placeholder: t("hostengage.prize_example"),
                               "data-testid": "engage-prize"}), "prize"),
    h("div", {class: "field-row"},
      formField(t("hostengage.winners"), numberInput("winner_count", 1, {min: "1", max: "1000"}), "winner_count"),
      formField(t("hostengage.draws_in"), numberInput("countdown_seconds", 60, {min: "5", max: "3600"}), "countdown_seconds")),
    formField(t("hostengage.who_can_enter"), rule, "rule", t("hostengage.rule_hint")),
    keywordField,
    h("p", {class: "form-error", role: "alert"}),
    h("button", {type: "submit", class: "btn btn-primary", "data-testid": "start-draw"}, t("hostengage.start_draw")));

  onSubmit(drawForm, async (data) => {
    const body = {prize: String(data.get("prize") || ""), winner_count: Number(data.get("winner_count")),
                  rule: String(data.get("rule")), countdown_seconds: Number(data.get("countdown_seconds"))};
    if (body.rule === "keyword") body.keyword = String(data.get("keyword") || "");
    await submitting(drawForm, async () => {
      await api("POST", `/api/rooms/${roomId}/draws`, body);
      toast(t("hostengage.draw_started"), "success");
    });
  });

  const live = h("div", {class: "engage-live", "data-testid": "engage-live"});
  body.replaceChildren(live, rainForm, drawForm);
  return mountRoomEngagement({store, slot: live, me, roomId, hostId});
}
