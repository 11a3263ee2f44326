// A bargain's news between the browser's tabs, without a connection of its own: the user's
// `bargain` (a friend's cut) and `order` events reach only a room socket, which the bargain's
// page does not open (a socket there would join the room as a viewer). A live room open in
// another tab of the same browser passes them on over a BroadcastChannel, and says every few
// seconds whether its socket is open; the bargain's page then reads the bargain at once on
// each, and polls only as a slow fallback (docs/social.md, "Bargaining", "Who hears what").

const CHANNEL = "livesell:bargain-news";
// How often a live room's tab says its socket is open, and how long that is believed.
export const HEARTBEAT_MS = 5000;
const BELIEVED_MS = 3 * HEARTBEAT_MS;

function channel() {
  return typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
}

/** In the live room: pass the user's bargain and order events on. Returns the socket's
 *  status listener. */
export function relayBargainNews({store, userId}) {
  const out = userId === null || userId === undefined ? null : channel();
  if (!out) return () => {};
  const tab = Math.random().toString(36).slice(2);
  let live = false;
  const say = () => out.postMessage({type: "socket", tab, user_id: userId, live});
  store.on("bargain", (data) => out.postMessage({type: "bargain", user_id: userId, data}));
  store.on("order", (data) => out.postMessage({type: "order", user_id: userId, data}));
  out.onmessage = (event) => {
    if (event.data && event.data.type === "ask") say();
  };
  setInterval(() => { if (live) say(); }, HEARTBEAT_MS);
  window.addEventListener("pagehide", () => { live = false; say(); });
  return (state) => {
    const open = state === "open";
    if (open !== live) {
      live = open;
      say();
    }
  };
}

/** On a bargain's page: `onNews(message)` for each of `userId`'s events passed on; returns
 *  whether a live room's socket carries them now. */
export function listenBargainNews({userId, onNews, onLive}) {
  const input = channel();
  if (!input) return () => false;
  const heard = new Map();
  input.onmessage = (event) => {
    const message = event.data || {};
    if (message.user_id !== userId) return;
    if (message.type === "socket") {
      const was = relayed();
      if (message.live) heard.set(message.tab, Date.now());
      else heard.delete(message.tab);
      if (!was && relayed() && onLive) onLive();
    } else {
      onNews(message);
    }
  };
  input.postMessage({type: "ask"});
  function relayed() {
    const now = Date.now();
    return [...heard.values()].some((at) => now - at < BELIEVED_MS);
  }
  return relayed;
}
