// The room's bargain offers (砍价; docs/social.md, "Bargaining"): a "Bargain" badge on the
// card of each lineup product the host offers for bargaining, and a line on the pinned card,
// each leading to the offer's page where the viewer starts a bargain.
//
// GET /api/rooms/{id}/bargain-offers fills the list on load and after every hello; the room's
// `bargain_offer` events (an offer made, or withdrawn by the host) keep it live; an offer
// whose deadline passes leaves the page by itself.
import {api} from "./api.js";
import {h} from "./dom.js";
import {formatMoney} from "./format.js";
import {t} from "./i18n.js";

// setTimeout's longest wait; an offer's deadline may be 30 days away.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Keep the room's open offers; `onChange(listener)` is told when they change. */
export function mountRoomBargains({store, roomId}) {
  let offers = [];
  let expiry = null;
  const listeners = [];

  function open() {
    return offers.filter((o) => o.open && o.ends_at_ms > Date.now());
  }

  function changed() {
    clearTimeout(expiry);
    const next = Math.min(...open().map((o) => o.ends_at_ms));
    if (Number.isFinite(next)) expiry = setTimeout(changed, Math.min(next - Date.now() + 50, MAX_TIMER_MS));
    for (const listener of listeners) listener();
  }

  async function load() {
    try {
      offers = (await api("GET", `/api/rooms/${roomId}/bargain-offers`)).offers;
    } catch (err) {
      console.warn("livesell: could not load the room's bargain offers", err);
    }
    changed();
  }

  store.on("reset", load);
  store.on("bargain_offer", (d) => {
    if (d.action === "offered" && d.offer && !offers.some((o) => o.id === d.offer.id)) {
      offers = [d.offer, ...offers];
      changed();
    } else if (d.action === "withdrawn") {
      offers = offers.filter((o) => o.id !== d.offer_id);
      changed();
    }
  });
  load();

  /** The newest open offer on the product, if any. */
  function offerOf(productId) {
    return open().filter((o) => o.product_id === productId).sort((a, b) => b.id - a.id)[0] || null;
  }

  return {
    get offers() { return open(); },
    offerOf,
    /** The lineup card's badge: a link to the product's offer, or null. */
    badge(product) {
      const offer = offerOf(product.id);
      if (!offer) return null;
      return h("a", {class: "tag tag-bargain", href: `/bargain-offers/${offer.id}`, "data-testid": "bargain-badge",
                     "data-offer-id": String(offer.id),
                     "aria-label": t("bargain.badge_label", {title: product.title,
                       start: formatMoney(offer.start_price_minor, offer.currency),
                       floor: formatMoney(offer.floor_price_minor, offer.currency)})},
               t("bargain.badge"));
    },
    /** The pinned card's line: the badge and the floor friends can reach, or null. */
    pinLine(product) {
      const offer = offerOf(product.id);
      if (!offer) return null;
      return h("a", {class: "pin-bargain-link", href: `/bargain-offers/${offer.id}`, "data-testid": "pinned-bargain",
                     "data-offer-id": String(offer.id)},
               h("span", {class: "tag tag-bargain"}, t("bargain.badge")), " ",
               t("bargain.pin_offer", {floor: formatMoney(offer.floor_price_minor, offer.currency)}));
    },
    onChange(listener) { listeners.push(listener); },
  };
}
