// Group buys in the live room (docs/social.md, "Group buys"): the pinned product's group deal
// ("Open a group": pay for your unit, then share the group) and its open groups with their
// exact progress ("2 of 3 joined, 04:12 left") and a Join button each. Opening or joining holds
// a slot and leads to the order's payment page; the sandbox brings the buyer back to the
// group's page.
//
// The room's `group` events (a group opened, joined, paid, formed, failed, each with the group's
// whole view; a deal offered or ended) and the member's own `group` user events arrive on the
// store's `frame` topic and are applied in place (a busy room's viewers never all ask the API
// at once); GET /api/rooms/{id}/groups fills the card on load and after every hello.
import {api} from "./api.js";
import {h, toast} from "./dom.js";
import {formatMoney} from "./format.js";
import {errorText, t} from "./i18n.js";
import {memberList, progressText, tickProgress} from "./group-view.js";

export function mountRoomGroups({store, slot, me, roomId, hostId}) {
  const state = {deals: [], groups: new Map(), busy: false, message: ""};

  function pinned() {
    return store.state.pin ? store.state.pin.id : null;
  }

  async function load() {
    try {
      const reply = await api("GET", `/api/rooms/${roomId}/groups`);
      store.setClock(reply.server_time_ms);
      state.deals = reply.deals;
      state.groups = new Map(reply.groups.map((g) => [g.id, g]));
    } catch (err) {
      console.warn("livesell: could not load the room's group buys", err);
    }
    render();
  }

  async function take(path) {
    state.busy = true;
    state.message = "";
    render();
    try {
      const reply = await api("POST", path);
      window.location.assign(reply.order.payment_url);
    } catch (err) {
      state.message = errorText(err);
      if (err && err.detail && err.detail.order_id) state.message += " " + t("group.see_orders");
      load();
    } finally {
      state.busy = false;
      render();
    }
  }

  function groupRow(group) {
    const mine = me && group.members.some((m) => m.user_id === me.id);
    const full = group.taken >= group.size;
    let action = null;
    if (!me) {
      action = h("a", {href: `/login?next=/rooms/${roomId}`, class: "btn btn-ghost btn-xs"}, t("group.sign_in"));
    } else if (mine) {
      action = h("a", {href: group.path, class: "btn btn-ghost btn-xs", "data-testid": "group-open-page"}, t("group.view"));
    } else if (me.id !== hostId) {
      action = h("button", {type: "button", class: "btn btn-primary btn-xs", "data-testid": "group-join",
                            disabled: full || state.busy, onclick: () => take(`/api/groups/${group.id}/join`)},
                 full ? t("group.full") : t("group.join"));
    }
    return h("li", {class: "group-row", "data-testid": "room-group", "data-group-id": String(group.id)},
      h("div", {class: "group-row-text"},
        h("strong", {"data-testid": "group-progress", "data-group-progress": String(group.id)},
          progressText(group, store.serverNow())),
        memberList(group)),
      action);
  }

  function render() {
    const product = pinned();
    const deals = state.deals.filter((d) => d.product_id === product && d.status === "open");
    const dealIds = new Set(deals.map((d) => d.id));
    const groups = [...state.groups.values()].filter((g) => dealIds.has(g.deal_id) && g.status === "open");
    slot.hidden = deals.length === 0;
    if (slot.hidden) return;
    const opens = deals.map((deal) => h("div", {class: "group-deal", "data-testid": "group-deal"},
      h("p", {class: "group-deal-terms"}, t("group.deal_terms", {
        price: formatMoney(deal.price_minor, deal.currency), size: deal.group_size})),
      me && me.id !== hostId
        ? h("button", {type: "button", class: "btn btn-primary", "data-testid": "group-open",
                       disabled: state.busy || deal.available < deal.group_size,
                       onclick: () => take(`/api/group-deals/${deal.id}/groups`)},
            deal.available < deal.group_size ? t("group.sold_out") : t("group.open"))
        : (!me ? h("a", {href: `/login?next=/rooms/${roomId}`, class: "btn btn-ghost"}, t("group.sign_in")) : null)));
    slot.replaceChildren(
      h("h3", {class: "group-title"}, t("group.title")), ...opens,
      groups.length ? h("ul", {class: "group-list"}, ...groups.map(groupRow))
                    : h("p", {class: "small muted"}, t("group.none_open")),
      state.message ? h("p", {class: "shop-message", role: "alert", "data-testid": "group-message"}, state.message) : null);
  }

  store.on("reset", load);
  store.on("pin", render);
  store.on("frame", (frame) => {
    if (frame.type !== "group") return;
    const d = frame.data || {};
    if ("refunded" in d) {
      // A member's own news: the group formed, or failed and they were refunded.
      if (d.action === "formed") toast(t("group.toast_formed"), "success");
      else if (d.action === "failed") toast(d.refunded ? t("group.toast_refunded") : t("group.toast_failed"), "error");
    }
    if (d.group) {
      store.setClock(d.group.server_time_ms);
      state.groups.set(d.group.id, d.group);
    }
    if (d.deal) {
      const at = state.deals.findIndex((deal) => deal.id === d.deal.id);
      if (at >= 0) state.deals[at] = d.deal;
      else state.deals.push(d.deal);
    }
    render();
  });
  setInterval(() => tickProgress(slot, state.groups, () => store.serverNow()), 1000);
  load();
  return {get groups() { return [...state.groups.values()]; }, reload: load};
}
