// Product card views and clicks on the live room page, for the broadcast report's funnel and
// per-product table.
//
// A card (any element with data-product-id: the pinned card, the lineup cards) counts as
// viewed once per page load when at least half of it is on screen for a moment, and as
// clicked when tapped (at most once per product every 2 s: a double tap is one click).
// Events go to POST /api/rooms/{id}/track; a failure is ignored: analytics never get in the
// viewer's way.
import {api} from "./api.js";

const CLICK_GAP_MS = 2000;

function productIdOf(node) {
  const id = Number(node && node.dataset && node.dataset.productId);
  return Number.isInteger(id) && id > 0 ? id : null;
}

export function trackProductCards({store, roomId}) {
  const viewed = new Set();
  const lastClick = new Map();

  function send(event, productId) {
    // keepalive: a click that navigates away still counts.
    api("POST", `/api/rooms/${roomId}/track`, {event, product_id: productId}, {keepalive: true})
      .catch(() => {});
  }

  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const id = productIdOf(entry.target);
      if (id !== null && !viewed.has(id)) {
        viewed.add(id);
        send("product_view", id);
      }
    }
  }, {threshold: 0.5});

  const watched = new WeakSet();
  const watchCards = () => {
    for (const card of document.querySelectorAll("[data-product-id]")) {
      if (!watched.has(card)) {
        watched.add(card);
        observer.observe(card);
      }
    }
  };
  watchCards();
  // Cards are re-rendered on every pin and lineup change; watch the new ones.
  new MutationObserver(watchCards).observe(document.body, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["data-product-id"]});
  // A card that keeps its element but changes product (the pinned card) is seen anew.
  store.on("pin", () => {
    const card = document.querySelector("#pin-card[data-product-id]");
    if (card) {
      observer.unobserve(card);
      observer.observe(card);
    }
  });

  document.addEventListener("click", (event) => {
    const card = event.target instanceof Element ? event.target.closest("[data-product-id]") : null;
    const id = productIdOf(card);
    if (id === null) return;
    const now = Date.now();
    if (now - (lastClick.get(id) || 0) < CLICK_GAP_MS) return;
    lastClick.set(id, now);
    send("product_click", id);
  }, {capture: true});
}
