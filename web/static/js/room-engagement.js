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
import {has, t} from "./i18n.js";

const TICK_MS = 250;

// What a refused grab or entry says: the card's own words for the codes it expects, else the
// code's ("errors.<code>"), else the API's message.
function grabRefusal(code, err) {
  if (has(`engage.grab_error.${code}`)) return t(`engage.grab_error.${code}`);
  return has(`errors.${code}`) ? t(`errors.${code}`) : err.message || t("engage.grab_error.network");
}
function enterRefusal(code, err) {
  if (has(`engage.enter_error.${code}`)) return t(`engage.enter_error.${code}`);
  return has(`errors.${code}`) ? t(`errors.${code}`) : err.message || t("engage.enter_error.network");
}

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

  // A draw that follows the host: following is being in (the followers are entered at the
  // close), so the card follows the follow button.
  document.addEventListener("livesell:follow", (event) => {
    const state = event.detail || {};
    if (mine.draw && mine.draw.rule === "follows" && mine.draw.status === "open"
        && state.host_id === mine.draw.host_id) {
      mine.entered = Boolean(state.following);
      render();
    }
  });

  // One press of the grab or the join button: `busy` (a flag of `mine`) shows it running and
  // keeps a second press out; `refused(code, err)` takes a refusal, its message cleared first.
  async function press(busy, message, run, refused) {
    if (mine[busy]) return;
    mine[busy] = true;
    mine[message] = null;
    render();
    try {
      await run();
    } catch (err) {
      refused(err.code || "network", err);
    } finally {
      mine[busy] = false;
      render();
    }
  }

  async function grab() {
    if (!mine.rain) return;
    await press("grabbing", "rainMessage", async () => {
      const got = await api("POST", `/api/rains/${mine.rain.id}/grab`);
      mine.envelope = got;
      mine.left = got.left;
    }, (code, err) => {
      if (code === "already_grabbed" && err.detail) {
        mine.envelope = {rain_id: mine.rain.id, amount_minor: err.detail.amount_minor, seq: err.detail.seq,
                         currency: mine.rain.currency};
      } else {
        mine.rainMessage = {code, text: grabRefusal(code, err)};
      }
    });
  }

  async function enter() {
    if (!mine.draw) return;
    await press("entering", "drawMessage", async () => {
      await api("POST", `/api/draws/${mine.draw.id}/enter`);
      mine.entered = true;
    }, (code, err) => {
      mine.drawMessage = {code, text: enterRefusal(code, err)};
    });
  }

  function hashLine(item) {
    const short = `${item.seed_hash.slice(0, 16)}…`;
    return h("p", {class: "engage-hash muted small", title: item.seed_hash},
             t("engage.committed_hash"), " ", h("code", {"data-testid": "seed-hash"}, short));
  }

  function renderRain() {
    const rain = mine.rain;
    rainBox.hidden = !rain;
    if (!rain) return;
    const now = store.serverNow();
    const settled = rain.status === "settled";
    const phase = settled || now >= rain.closes_at_ms ? "ended" : now < rain.opens_at_ms ? "countdown" : "open";
    rainBox.dataset.phase = phase;
    const title = h("h3", {class: "engage-title"}, t("engage.rain_title"));
    const terms = h("p", {class: "engage-terms"},
                    t("engage.rain_terms", {count: rain.envelope_count,
                                             total: formatMoney(rain.total_minor, rain.currency)}));
    const parts = [title, terms];
    if (phase === "countdown") {
      parts.push(h("p", {class: "engage-countdown", "data-testid": "rain-countdown"},
                    t("engage.rain_opens_in", {time: formatCountdown(rain.opens_at_ms - now)})));
    } else if (phase === "open") {
      const left = mine.left ?? (rain.envelope_count - (rain.grabbed || 0));
      parts.push(h("p", {class: "engage-countdown", "data-testid": "rain-countdown"},
                    t("engage.rain_open", {time: formatCountdown(rain.closes_at_ms - now), count: left})));
    } else {
      parts.push(h("p", {class: "engage-countdown", "data-testid": "rain-countdown"},
                    settled ? t("engage.rain_ended_grabbed", {count: rain.grabbed}) : t("engage.rain_ended")));
    }
    if (mine.envelope) {
      parts.push(h("p", {class: "engage-won", "data-testid": "rain-won"},
                    t("engage.rain_won", {amount: formatMoney(mine.envelope.amount_minor, rain.currency)})));
    } else if (phase !== "ended" && me && me.id !== hostId) {
      const button = h("button", {type: "button", class: "btn btn-primary engage-grab",
                                  "data-testid": "grab-button"},
                       (mine.grabbing ? t("engage.grabbing") : t("engage.grab")));
      button.disabled = phase !== "open" || mine.grabbing;
      button.addEventListener("click", grab);
      parts.push(button);
    } else if (phase !== "ended" && !me) {
      parts.push(h("p", {class: "muted small"}, h("a", {href: `/login?next=/rooms/${roomId}`}, t("engage.sign_in")),
                    t("engage.sign_in_to_grab")));
    }
    if (mine.rainMessage) {
      parts.push(h("p", {class: "engage-message", role: "status", "data-testid": "rain-message",
                         "data-code": mine.rainMessage.code}, mine.rainMessage.text));
    }
    parts.push(hashLine(rain));
    if (settled && rain.seed) {
      parts.push(h("p", {class: "muted small"}, t("engage.seed_revealed"),
                    h("a", {href: `/api/rains/${rain.id}/envelopes`, "data-testid": "rain-verify"},
                      t("engage.check_envelopes"))));
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
      h("h3", {class: "engage-title"}, t("engage.draw_title")),
      h("p", {class: "engage-terms", "data-testid": "draw-prize"},
        t("engage.draw_terms", {prize: draw.prize, count: draw.winner_count})),
    ];
    if (!drawn) {
      parts.push(h("p", {class: "engage-countdown", "data-testid": "draw-countdown"},
                    now >= draw.closes_at_ms ? t("engage.drawing")
                      : t("engage.draws_in", {time: formatCountdown(draw.closes_at_ms - now)})));
      parts.push(h("p", {class: "engage-rule", "data-testid": "draw-rule"}, draw.rule === "keyword"
        ? [t("engage.rule_keyword_before"), h("strong", {}, `“${draw.keyword}”`), t("engage.rule_keyword_after")]
        : draw.rule === "follows" ? t("engage.rule_follows") : t("engage.rule_in_room")));
      if (mine.entered) {
        parts.push(h("p", {class: "engage-entered", "data-testid": "draw-entered"},
                      (draw.rule === "in_room" ? t("engage.entered_in_room")
                        : draw.rule === "follows" ? t("engage.entered_following") : t("engage.entered"))));
      } else if (draw.rule === "in_room" && me && me.id !== hostId && now < draw.closes_at_ms) {
        const button = h("button", {type: "button", class: "btn btn-primary", "data-testid": "join-draw"},
                         (mine.entering ? t("engage.joining") : t("engage.join")));
        button.disabled = mine.entering;
        button.addEventListener("click", enter);
        parts.push(button);
      }
    } else {
      const names = (draw.winner_names || []).map((w) => w.display_name || `#${w.id}`);
      parts.push(h("p", {class: "engage-winners", "data-testid": "draw-winners"},
                    names.length ? t("engage.winners", {names: names.join(t("engage.name_sep"))}) : t("engage.no_entrants")));
      parts.push(h("p", {class: "muted small"}, t("engage.entrants", {count: draw.entrants_count})));
      const result = mine.result || (me && draw.winners.includes(me.id) ? "won"
        : me && draw.entrants.includes(me.id) ? "lost" : null);
      if (result) {
        const text = t(`engage.result.${result}`);
        parts.push(h("p", {class: "engage-result", "data-testid": "draw-result", "data-result": result}, text));
      }
      parts.push(h("p", {class: "muted small"},
                    h("a", {href: `/draws/${draw.id}/verify`, "data-testid": "draw-verify"}, t("engage.verify_draw"))));
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
