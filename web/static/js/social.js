// A seller's line (followers, the follow button, the seller score), the room's "Rate your
// order" card, "Remind me" on a scheduled room, and the header's unread badge. The server
// renders each (web/templates/partials/seller.html); this keeps them current.
import {api} from "./api.js";
import {$, h, toast} from "./dom.js";
import {formatMoney} from "./format.js";
import {errorText, t} from "./i18n.js";

export function renderScore(score) {
  const node = $("#seller-score");
  if (!node || !score) return;
  node.replaceChildren();
  if (score.score === null || score.score === undefined) {
    node.textContent = t("seller.no_reviews");
    return;
  }
  node.append(h("strong", {}, `${score.score.toFixed(1)}★`),
              ` · ${t("seller.reviews", {count: score.reviews})}${t("seller.list_sep")}`
              + t("seller.paid_orders", {count: score.paid_orders}));
}

function renderFollowers(count) {
  const node = $("#seller-followers");
  if (!node) return;
  // The message is ours (its markup is the bold count) and `count` a number: nothing to escape.
  node.innerHTML = t("seller.followers_html", {count: Number(count)});
}

function renderFollowButton(button, following) {
  button.dataset.following = following ? "true" : "false";
  button.textContent = t(following ? "seller.following" : "seller.follow");
  button.classList.toggle("btn-primary", !following);
  button.classList.toggle("btn-ghost", following);
}

/** The follow button and the counts of the seller on this page. */
export function mountSeller(seller) {
  if (!seller) return {refresh: async () => {}};
  const button = $("#follow-btn");
  if (button) {
    button.addEventListener("click", async () => {
      const following = button.dataset.following === "true";
      button.disabled = true;
      try {
        const state = await api(following ? "DELETE" : "POST", `/api/hosts/${seller.host_id}/follow`);
        renderFollowButton(button, state.following);
        renderFollowers(state.followers);
        // The room's lucky draw that follows the host counts this viewer in (or out).
        document.dispatchEvent(new CustomEvent("livesell:follow", {detail: state}));
      } catch (err) {
        toast(errorText(err), "error");
      } finally {
        button.disabled = false;
      }
    });
  }
  async function refresh() {
    const profile = await api("GET", `/api/hosts/${seller.host_id}`);
    renderFollowers(profile.followers);
    renderScore(profile.score);
    if (button) renderFollowButton(button, profile.following);
  }
  return {refresh};
}

/** "Rate your order": the viewer's completed orders from this seller without a review. */
export function mountReviewCard(seller, {onReviewed}) {
  const card = $("#review-card");
  const form = $("#review-form");
  if (!card || !form || !seller) return {reload: async () => {}};
  const select = $("#review-order");
  const error = $("#review-error");
  let orders = seller.reviewable || [];

  function render() {
    card.hidden = orders.length === 0;
    select.replaceChildren(...orders.map((order) => h("option", {value: String(order.order_id)},
      `#${order.order_id} · ${order.product_title} × ${order.quantity} · `
      + formatMoney(order.amount_minor, order.currency))));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const data = new FormData(form);
    const orderId = Number(data.get("order_id"));
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await api("POST", `/api/orders/${orderId}/review`,
                {rating: Number(data.get("rating")), body: String(data.get("body") || "")});
      orders = orders.filter((order) => order.order_id !== orderId);
      form.reset();
      render();
      toast(t("review.posted"), "success");
      await onReviewed();
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      submit.disabled = false;
    }
  });
  render();
  // An order of the viewer's was just marked fulfilled: it may be this seller's.
  async function reload() {
    try {
      ({orders} = await api("GET", `/api/hosts/${seller.host_id}/reviewable`));
      render();
    } catch {
      // The card keeps what it had.
    }
  }
  return {reload};
}

/** "Remind me" on a scheduled room. */
export function mountRemind(roomId) {
  const button = $("#remind-btn");
  if (!button) return;
  button.addEventListener("click", async () => {
    const on = button.dataset.reminding === "true";
    button.disabled = true;
    try {
      const state = await api(on ? "DELETE" : "POST", `/api/rooms/${roomId}/remind`);
      button.dataset.reminding = state.reminding ? "true" : "false";
      button.textContent = state.reminding ? t("room.reminder_set") : t("room.remind_me");
    } catch (err) {
      toast(errorText(err), "error");
    } finally {
      button.disabled = false;
    }
  });
}

/** The header's unread count. */
export function setUnread(count) {
  const badge = $("#unread-count");
  if (!badge || typeof count !== "number") return;
  badge.textContent = count > 99 ? "99+" : String(count);
  badge.hidden = count === 0;
}

/** The product dialog's reviews (web/templates/partials/product_dialog.html). */
export async function showProductReviews(productId) {
  const section = $("#product-dialog-reviews");
  const list = $("#product-dialog-review-list");
  if (!section || !list) return;
  section.dataset.productId = String(productId);
  section.hidden = true;
  let reviews = [];
  try {
    ({reviews} = await api("GET", `/api/products/${productId}/reviews`));
  } catch {
    return;  // the details stand without them
  }
  if (section.dataset.productId !== String(productId)) return;
  list.replaceChildren(...reviews.slice(0, 10).map((review) => h("li", {class: "review-item", "data-testid": "product-review"},
    h("p", {}, h("strong", {}, `${review.rating}★`), ` ${review.buyer}`),
    review.body ? h("p", {class: "review-body"}, review.body) : "",
    review.reply ? h("p", {class: "review-reply"}, h("strong", {}, t("review.seller_reply")), ` ${review.reply}`) : "")));
  section.hidden = reviews.length === 0;
}
