// A group buy's own page, /g/{code} (docs/social.md, "Group buys"): the product, the group
// price, who has joined (display names) and the time left, for anyone, in the room or not.
// Join holds a slot and leads to the order's payment page; the sandbox brings the buyer back
// here. The progress is read again every second while the group is open (a GET of the group:
// this page has no room socket), and the countdown runs on the server's clock.
import {api} from "./api.js";
import {$, h, readBoot, toast} from "./dom.js";
import {errorText, t} from "./i18n.js";
import {memberList, progressText} from "./group-view.js";

const boot = readBoot();
const me = boot.me;
const state = {group: boot.group, order: boot.my_order, offsetMs: boot.group.server_time_ms - Date.now(),
               busy: false, message: ""};
const serverNow = () => Date.now() + state.offsetMs;

function mine() {
  return me && state.group.members.some((m) => m.user_id === me.id && m.state !== "refunded");
}

async function join() {
  state.busy = true;
  state.message = "";
  render();
  try {
    const reply = await api("POST", `/api/groups/${state.group.id}/join`);
    window.location.assign(reply.order.payment_url);
  } catch (err) {
    state.message = errorText(err);
    state.busy = false;
    refresh();
  }
}

async function share() {
  try {
    const link = await api("POST", "/api/shares", {kind: "group", id: state.group.id});
    const url = `${window.location.origin}${link.path}`;
    $("#group-share-link").value = url;
    $("#group-share-link").hidden = false;
    try {
      await navigator.clipboard.writeText(url);
      toast(t("group.share_copied"), "success");
    } catch {
      // No clipboard (an insecure origin): the link stays shown for the reader to copy.
    }
  } catch (err) {
    toast(errorText(err), "error");
  }
}

function action() {
  const group = state.group;
  if (group.status === "formed") return h("p", {class: "group-outcome", "data-testid": "group-outcome"}, t("group.formed"));
  if (group.status === "failed") {
    const refunded = me && group.members.some((m) => m.user_id === me.id && m.state === "refunded");
    return h("p", {class: "group-outcome group-outcome-failed", "data-testid": "group-outcome"},
             refunded ? t("group.failed_refunded") : t("group.failed"));
  }
  if (!me) return h("a", {href: `/login?next=${encodeURIComponent(window.location.pathname)}`, class: "btn btn-primary"}, t("group.sign_in"));
  if (mine()) {
    const order = state.order;
    if (order && order.status === "pending_payment") {
      return h("a", {href: order.payment_url, class: "btn btn-primary", "data-testid": "group-pay"}, t("group.pay"));
    }
    return h("p", {class: "group-outcome", "data-testid": "group-outcome"}, t("group.waiting"));
  }
  if (me.id === group.deal.host_id) return null;
  const full = group.taken >= group.size;
  return h("button", {type: "button", class: "btn btn-primary", "data-testid": "group-join",
                      disabled: full || state.busy, onclick: join}, full ? t("group.full") : t("group.join"));
}

function render() {
  const group = state.group;
  const card = $("#group-card");
  card.dataset.status = group.status;
  $("#group-progress").textContent = progressText(group, serverNow());
  $("#group-members").replaceChildren(memberList(group));
  $("#group-action").replaceChildren(...[action(),
    state.message ? h("p", {class: "shop-message", role: "alert", "data-testid": "group-message"}, state.message) : null]
    .filter(Boolean));
}

async function refresh() {
  try {
    const group = await api("GET", `/api/groups/${state.group.id}`);
    state.offsetMs = group.server_time_ms - Date.now();
    const was = state.group.status;
    state.group = group;
    if (state.order && mine()) {
      const order = await api("GET", `/api/orders/${state.order.id}`).catch(() => null);
      if (order) state.order = order;
    }
    if (was === "open" && group.status === "formed" && mine()) toast(t("group.toast_formed"), "success");
  } catch (err) {
    console.warn("livesell: could not read the group", err);
  }
  render();
}

$("#group-share")?.addEventListener("click", share);
render();
setInterval(() => {
  if (state.group.status === "open") refresh();
  else render();
}, 1000);
