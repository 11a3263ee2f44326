// Coupons dropped into the live room (docs/engagement.md, "Coupons"): a card per coupon still
// valid, with its terms, the copies left and a Claim button (one tap, one copy per viewer); the
// viewer's claimed coupons are then offered at Buy now and at the cart's checkout
// (room-shop.js reads `usable()` and `select()`).
//
// The room's `coupon` events (a drop, the copies left after a claim) arrive on the store's
// `frame` topic; GET /api/rooms/{id}/coupons fills the card on load and after every hello.
import {api} from "./api.js";
import {h} from "./dom.js";
import {formatMoney} from "./format.js";
import {has, t} from "./i18n.js";

function claimRefusal(err) {
  const code = err && err.code;
  if (code && has(`errors.${code}`)) return t(`errors.${code}`);
  return (err && err.message) || t("coupon.claim_failed");
}

/** A coupon's terms in the reader's words: "¥5.00 off orders of ¥20.00 or more". */
export function couponTerms(coupon) {
  const off = coupon.kind === "amount"
    ? t("coupon.amount_off", {amount: formatMoney(coupon.amount_off_minor, coupon.currency)})
    : t("coupon.percent_off", {percent: coupon.percent_off,
                                cap: formatMoney(coupon.max_off_minor, coupon.currency)});
  return coupon.min_spend_minor > 0
    ? t("coupon.with_minimum", {off, minimum: formatMoney(coupon.min_spend_minor, coupon.currency)})
    : off;
}

/** Run the coupon card in `slot`; returns its state (for the shop and the browser tests). */
export function mountRoomCoupons({store, slot, me, roomId, hostId}) {
  const mine = {coupons: [], messages: new Map(), claiming: new Set()};
  const listeners = [];

  function changed() {
    render();
    for (const listener of listeners) listener();
  }

  async function load() {
    try {
      mine.coupons = (await api("GET", `/api/rooms/${roomId}/coupons`)).coupons;
    } catch (err) {
      console.warn("livesell: could not load the room's coupons", err);
    }
    changed();
  }

  async function claim(coupon) {
    mine.claiming.add(coupon.id);
    mine.messages.delete(coupon.id);
    render();
    try {
      const reply = await api("POST", `/api/coupons/${coupon.id}/claim`);
      coupon.claim = {id: reply.claim_id, used: false, order_id: null};
      coupon.left = Math.min(coupon.left, reply.left);
    } catch (err) {
      mine.messages.set(coupon.id, claimRefusal(err));
      if (err && err.code === "coupon_already_claimed") load();
    } finally {
      mine.claiming.delete(coupon.id);
      changed();
    }
  }

  function card(coupon) {
    const held = coupon.claim;
    const ended = coupon.left <= 0 && !held;
    let action;
    if (held) {
      action = h("span", {class: "coupon-state", "data-testid": "coupon-claimed"},
                 held.used ? t("coupon.used") : t("coupon.claimed"));
    } else if (!me) {
      action = h("a", {href: `/login?next=/rooms/${roomId}`, class: "btn btn-ghost btn-xs"}, t("coupon.sign_in"));
    } else if (me.id !== hostId) {
      action = h("button", {type: "button", class: "btn btn-primary btn-xs coupon-claim", "data-testid": "coupon-claim",
                            disabled: ended || mine.claiming.has(coupon.id), onclick: () => claim(coupon)},
                 mine.claiming.has(coupon.id) ? t("coupon.claiming") : t("coupon.claim"));
    }
    const message = mine.messages.get(coupon.id);
    return h("li", {class: "coupon", "data-coupon-id": String(coupon.id), "data-testid": "coupon"},
      h("div", {class: "coupon-text"},
        h("strong", {"data-testid": "coupon-terms"}, couponTerms(coupon)),
        h("span", {class: "small"}, coupon.followers_only ? t("coupon.followers_only") : null),
        h("span", {class: "small", "data-testid": "coupon-left"},
          ended ? t("coupon.gone") : t("coupon.left", {count: coupon.left}))),
      action || null,
      message ? h("p", {class: "shop-message", role: "alert", "data-testid": "coupon-message"}, message) : null);
  }

  function render() {
    const live = mine.coupons.filter((c) => c.valid_until_ms > Date.now());
    slot.hidden = live.length === 0;
    slot.replaceChildren(h("h3", {class: "coupon-title"}, t("coupon.title")),
      h("ul", {class: "coupon-list"}, ...live.map(card)));
  }

  store.on("reset", load);
  store.on("frame", (frame) => {
    const d = frame.data || {};
    if (frame.type === "coupon" && d.action === "dropped" && d.coupon && !mine.coupons.some((c) => c.id === d.coupon.id)) {
      mine.coupons.push({...d.coupon, claim: null});
      changed();
    } else if (frame.type === "coupon" && d.action === "claimed") {
      const coupon = mine.coupons.find((c) => c.id === d.coupon_id);
      if (coupon) {
        coupon.left = Math.min(coupon.left, d.left);
        render();
      }
    }
  });
  load();

  return {
    get coupons() { return mine.coupons; },
    /** The viewer's claimed coupons not on an order, still valid. */
    usable() {
      return mine.coupons.filter((c) => c.claim && !c.claim.used && c.valid_until_ms > Date.now());
    },
    /** A <select> of the usable coupons that `fits` (none: null); its value is a claim id or "". */
    select(testid, fits = () => true) {
      const usable = this.usable().filter(fits);
      if (!usable.length) return null;
      return h("label", {class: "coupon-pick small"}, t("coupon.use"), " ",
        h("select", {"data-testid": testid},
          h("option", {value: ""}, t("coupon.none")),
          ...usable.map((c, index) => h("option", {value: String(c.claim.id), selected: index === 0 ? true : null},
                                        couponTerms(c)))));
    },
    onChange(listener) { listeners.push(listener); },
    refresh: load,
  };
}
