// Comment-to-buy on the room page: when the host has it on, a note tells viewers they can buy
// by chat (`buy 2 blue M`, `+1`); the answer to the viewer's own line comes as a `chat_buy`
// user event, either the held order (a card: confirm and pay in one tap, or cancel) or a hint
// saying why nothing was held (docs/realtime.md, "chat_buy"). Nobody else sees either.
import {api} from "./api.js";
import {$, h, toast} from "./dom.js";
import {formatMoney} from "./format.js";
import {has, t} from "./i18n.js";

const HELD = "pending_payment";

export function mountChatBuy({store, roomId}) {
  const box = $("#chat-buy");
  const note = $("#chat-buy-note");
  let shown = null;   // the card's order id, or null for a hint

  function renderNote() {
    const on = Boolean(store.state.room && store.state.room.comment_to_buy);
    note.hidden = !on;
    note.textContent = on ? t("chatbuy.note") : "";
  }

  function close() {
    box.hidden = true;
    box.replaceChildren();
    shown = null;
  }

  const closeButton = () => h("button", {type: "button", class: "my-order-dismiss",
                                         "aria-label": t("shop.hide"), onclick: close}, "×");

  function showOrder(order, text) {
    shown = order.id;
    const amount = formatMoney(order.amount_minor, order.currency);
    const lines = h("ul", {class: "my-order-lines"}, ...(order.lines || []).map((line) => h("li", {},
      // A line's title names its variant already (`Linen shirt — Blue / M`).
      t("chatbuy.line", {quantity: line.quantity, title: line.title}))));
    box.dataset.kind = "order";
    box.dataset.orderId = String(order.id);
    box.replaceChildren(closeButton(),
      h("p", {class: "chat-buy-from small"}, t("chatbuy.from", {text})),
      h("p", {class: "my-order-title", "data-testid": "chat-buy-title"},
        t("chatbuy.card_title", {id: order.id, amount})), lines,
      h("div", {class: "shop-actions"},
        h("button", {type: "button", class: "btn btn-primary", "data-testid": "chat-buy-pay",
                     onclick: () => window.location.assign(order.payment_url)}, t("chatbuy.pay")),
        h("button", {type: "button", class: "btn btn-ghost", "data-testid": "chat-buy-cancel",
                     onclick: () => cancel(order.id)}, t("shop.cancel"))));
    box.hidden = false;
  }

  function showHint(hint, text) {
    // Every code the server sends has words under `chatbuy.hint.`; one it adds later reads as
    // a plain refusal until the catalogs have it.
    const words = has(`chatbuy.hint.${hint.code}`) ? t(`chatbuy.hint.${hint.code}`, hint)
      : t("chatbuy.hint.refused", hint);
    shown = null;
    box.dataset.kind = "hint";
    delete box.dataset.orderId;
    box.replaceChildren(closeButton(),
      h("p", {class: "chat-buy-from small"}, t("chatbuy.from", {text})),
      h("p", {"data-testid": "chat-buy-hint", "data-code": hint.code}, words));
    box.hidden = false;
  }

  async function cancel(orderId) {
    try {
      await api("POST", `/api/orders/${orderId}/cancel`);
      if (shown === orderId) close();
    } catch {
      toast(t("chatbuy.cancel_failed"), "error");
    }
  }

  store.on("chat_buy", (d) => {
    if (!d || d.room_id !== roomId) return;
    if (d.order) showOrder(d.order, d.text);
    else if (d.hint) showHint(d.hint, d.text);
  });
  // The card's order moved on (paid, cancelled, expired): the shop's order box tells it now.
  store.on("order", (order) => {
    if (order && shown === order.id && order.status !== HELD) close();
  });
  store.on("room", renderNote);
  store.on("reset", renderNote);
  renderNote();
}
