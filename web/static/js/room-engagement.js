// Red envelope rains and lucky draws in the live room (docs/engagement.md): the rain's
// countdown, the Grab button and what the viewer got; the draw's countdown, how to enter, the
// viewer's entry and, at the close, the winners and whether the viewer won. Both show the
// seed's hash committed before they opened, and the seed (and a verification link) after.
//
// The room's `rain` and `draw` events carry the whole public view and the server's clock; the
// viewer's own news (`draw` entered / result) arrives on their user channel through the same
// socket; GET /api/rooms/{id}/engagement fills the card on load and after every hello.
import {api} from "./api.js";
import {h} from "./dom.js";
import {formatCountdown, formatMoney} from "./format.js";

const TICK_MS = 250;

const GRAB_TEXT = {
  rain_not_open: "Not yet — wait for the countdown.",
  rain_ended: "This rain has ended.",
  rain_empty: "Every envelope has been grabbed.",
  host_cannot_grab: "Hosts can't grab from their own rain.",
  grab_retry: "Busy for a moment — tap Grab again.",
  rain_not_found: "This rain is no longer available.",
  network: "Can't reach the shop. Check your connection and tap Grab again.",
};
const ENTER_TEXT = {
  draw_closed: "This draw has closed.",
  host_cannot_enter: "Hosts can't enter their own draw.",
  enter_by_keyword: "Send the keyword in the chat to enter.",
  network: "Can't reach the shop. Tap Join again.",
};

/** Run the rain and draw card in `slot`; returns its state (for the browser tests). */
export function mountRoomEngagement({store, slot, me, roomId, hostId}) {
  const mine = {
    rain: null, left: null, envelope: null, grabbing: false, rainMessage: null,
    draw: null, entered: false, result: null, entering: false, drawMessage: null,
  };
  const rainBox = h("div", {class: "engage-rain", "data-testid": "rain", hidden: true});
  const drawBox = h("div", {class: "engage-draw", "data-testid": "draw", hidden: true});
  slot.replaceChildren(rainBox, drawBox);

  function takeRain(rain) {
    if (!rain) return;
    if (!mine.rain || mine.rain.id !== rain.id) {
      mine.envelope = null;
      mine.rainMessage = null;
      mine.left = null;
    }
    mine.rain = rain;
  }

  function takeDraw(draw) {
    if (!draw) return;
    if (!mine.draw || mine.draw.id !== draw.id) {
      mine.entered = false;
      mine.result = null;
      mine.drawMessage = null;
    }
    mine.draw = draw;
  }

  async function load() {
    try {
      const state = await api("GET", `/api/rooms/${roomId}/engagement`);
      store.setClock(state.server_time_ms);
      takeRain(state.rain);
      takeDraw(state.draw);
      if (state.you) {
        if (state.you.envelope && mine.rain && state.you.envelope.rain_id === mine.rain.id) {
          mine.envelope = state.you.envelope;
        }
        mine.entered = mine.entered || Boolean(state.you.entered);
      }
    } catch (err) {
      console.warn("livesell: could not load the room's rain and draw", err);
    }
    render();
  }

  store.on("reset", load);
  store.on("frame", (frame) => {
    const d = frame.data || {};
    if (frame.type === "rain") {
      if (d.server_time_ms) store.setClock(d.server_time_ms);
      if (d.action === "left") {
        if (mine.rain && d.rain_id === mine.rain.id) {
          mine.left = mine.left === null ? d.left : Math.min(mine.left, d.left);
        }
      } else {
        takeRain(d.rain);
      }
      render();
    } else if (frame.type === "draw") {
      if (d.server_time_ms) store.setClock(d.server_time_ms);
      if (d.action === "entered") {
        if (mine.draw && d.draw_id === mine.draw.id) mine.entered = true;
      } else if (d.action === "result") {
        if (mine.draw && d.draw_id === mine.draw.id) mine.result = d.result;
      } else {
        takeDraw(d.draw);
      }
      render();
    }
  });

  async function grab() {
    if (!mine.rain || mine.grabbing) return;
    mine.grabbing = true;
    mine.rainMessage = null;
    render();
    try {
      const got = await api("POST", `/api/rains/${mine.rain.id}/grab`);
      mine.envelope = got;
      mine.left = got.left;
    } catch (err) {
      const code = err.code || "network";
      if (code === "already_grabbed" && err.detail) {
        mine.envelope = {rain_id: mine.rain.id, amount_minor: err.detail.amount_minor, seq: err.detail.seq,
                         currency: mine.rain.currency};
      } else {
        mine.rainMessage = {code, text: GRAB_TEXT[code] || err.message || GRAB_TEXT.network};
      }
    } finally {
      mine.grabbing = false;
      render();
    }
  }

  async function enter() {
    if (!mine.draw || mine.entering) return;
    mine.entering = true;
    mine.drawMessage = null;
    render();
    try {
      await api("POST", `/api/draws/${mine.draw.id}/enter`);
      mine.entered = true;
    } catch (err) {
      const code = err.code || "network";
      mine.drawMessage = {code, text: ENTER_TEXT[code] || err.message || ENTER_TEXT.network};
    } finally {
      mine.entering = false;
      render();
    }
  }

  function hashLine(item) {
    const short = `${item.seed_hash.slice(0, 16)}…`;
    return h("p", {class: "engage-hash muted small", title: item.seed_hash},
             "Committed seed hash (SHA-256): ", h("code", {"data-testid": "seed-hash"}, short));
  }

  function renderRain() {
    const rain = mine.rain;
    rainBox.hidden = !rain;
    if (!rain) return;
    const now = store.serverNow();
    const settled = rain.status === "settled";
    const phase = settled || now >= rain.closes_at_ms ? "ended" : now < rain.opens_at_ms ? "countdown" : "open";
    rainBox.dataset.phase = phase;
    const title = h("h3", {class: "engage-title"}, h("span", {lang: "zh-CN"}, "红包雨"), " Red envelope rain");
    const terms = h("p", {class: "engage-terms"},
                    `${rain.envelope_count} envelopes · ${formatMoney(rain.total_minor, rain.currency)} in all`);
    const parts = [title, terms];
    if (phase === "countdown") {
      parts.push(h("p", {class: "engage-countdown", "data-testid": "rain-countdown"},
                    `Opens in ${formatCountdown(rain.opens_at_ms - now)}`));
    } else if (phase === "open") {
      const left = mine.left ?? (rain.envelope_count - (rain.grabbed || 0));
      parts.push(h("p", {class: "engage-countdown", "data-testid": "rain-countdown"},
                    `Open · ${formatCountdown(rain.closes_at_ms - now)} left · ${left} envelopes left`));
    } else {
      parts.push(h("p", {class: "engage-countdown", "data-testid": "rain-countdown"},
                    settled ? `Ended · ${rain.grabbed} grabbed` : "Ended"));
    }
    if (mine.envelope) {
      parts.push(h("p", {class: "engage-won", "data-testid": "rain-won"},
                    `You got ${formatMoney(mine.envelope.amount_minor, rain.currency)}!`));
    } else if (phase !== "ended" && me && me.id !== hostId) {
      const button = h("button", {type: "button", class: "btn btn-primary engage-grab",
                                  "data-testid": "grab-button"},
                       mine.grabbing ? "Grabbing…" : "Grab");
      button.disabled = phase !== "open" || mine.grabbing;
      button.addEventListener("click", grab);
      parts.push(button);
    } else if (phase !== "ended" && !me) {
      parts.push(h("p", {class: "muted small"}, h("a", {href: `/login?next=/rooms/${roomId}`}, "Sign in"),
                    " to grab an envelope."));
    }
    if (mine.rainMessage) {
      parts.push(h("p", {class: "engage-message", role: "status", "data-testid": "rain-message",
                         "data-code": mine.rainMessage.code}, mine.rainMessage.text));
    }
    parts.push(hashLine(rain));
    if (settled && rain.seed) {
      parts.push(h("p", {class: "muted small"}, "Seed revealed — ",
                    h("a", {href: `/api/rains/${rain.id}/envelopes`, "data-testid": "rain-verify"},
                      "check every envelope")));
    }
    rainBox.replaceChildren(...parts);
  }

  function renderDraw() {
    const draw = mine.draw;
    drawBox.hidden = !draw;
    if (!draw) return;
    const now = store.serverNow();
    const drawn = draw.status === "drawn";
    drawBox.dataset.phase = drawn ? "drawn" : now >= draw.closes_at_ms ? "drawing" : "open";
    const parts = [
      h("h3", {class: "engage-title"}, h("span", {lang: "zh-CN"}, "福袋"), " Lucky draw"),
      h("p", {class: "engage-terms", "data-testid": "draw-prize"},
        `${draw.prize} · ${draw.winner_count} winner${draw.winner_count === 1 ? "" : "s"}`),
    ];
    if (!drawn) {
      parts.push(h("p", {class: "engage-countdown", "data-testid": "draw-countdown"},
                    now >= draw.closes_at_ms ? "Drawing…" : `Draws in ${formatCountdown(draw.closes_at_ms - now)}`));
      parts.push(h("p", {class: "engage-rule"}, draw.rule === "keyword"
        ? ["Send ", h("strong", {}, `“${draw.keyword}”`), " in the chat to enter."]
        : "Tap Join and stay in the room until the draw."));
      if (mine.entered) {
        parts.push(h("p", {class: "engage-entered", "data-testid": "draw-entered"},
                      draw.rule === "in_room" ? "You're in — stay until the draw." : "You're in!"));
      } else if (draw.rule === "in_room" && me && me.id !== hostId && now < draw.closes_at_ms) {
        const button = h("button", {type: "button", class: "btn btn-primary", "data-testid": "join-draw"},
                         mine.entering ? "Joining…" : "Join");
        button.disabled = mine.entering;
        button.addEventListener("click", enter);
        parts.push(button);
      }
    } else {
      const names = (draw.winner_names || []).map((w) => w.display_name || `#${w.id}`);
      parts.push(h("p", {class: "engage-winners", "data-testid": "draw-winners"},
                    names.length ? `Winners: ${names.join(", ")}` : "Nobody entered this draw."));
      parts.push(h("p", {class: "muted small"}, `${draw.entrants_count} entrant${draw.entrants_count === 1 ? "" : "s"}`));
      const result = mine.result || (me && draw.winners.includes(me.id) ? "won"
        : me && draw.entrants.includes(me.id) ? "lost" : null);
      if (result) {
        const text = {won: "You won!", lost: "Not this time.",
                      left: "You left the room before the draw, so your entry didn't count."}[result];
        parts.push(h("p", {class: "engage-result", "data-testid": "draw-result", "data-result": result}, text));
      }
      parts.push(h("p", {class: "muted small"},
                    h("a", {href: `/draws/${draw.id}/verify`, "data-testid": "draw-verify"}, "Verify this draw")));
    }
    if (mine.drawMessage) {
      parts.push(h("p", {class: "engage-message", role: "status", "data-testid": "draw-message",
                         "data-code": mine.drawMessage.code}, mine.drawMessage.text));
    }
    parts.push(hashLine(draw));
    drawBox.replaceChildren(...parts);
  }

  function render() {
    renderRain();
    renderDraw();
    slot.hidden = !mine.rain && !mine.draw;
  }

  setInterval(() => {
    if (mine.rain || mine.draw) render();
  }, TICK_MS);
  load();
  return mine;
}
