// The chat list and the chat box, shared by the live room and the host panel.
// Message text is set with textContent only: a line containing markup shows as text.
import {avatar, h} from "./dom.js";
import {formatDateTime} from "./format.js";
import {errorText, t} from "./i18n.js";

const MAX_LINES = 200;
// 1-64 of letters, digits, `_` and `-` (docs/realtime.md, the chat frame's `id`).
function lineId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

// The hub's refusals of a chat line (realtime/chat.py), told to the sender with the line.
const CHAT_REFUSALS = new Set(["rate_limited", "slow_mode", "muted", "too_long", "empty"]);

export class ChatView {
  /**
   * list: the <ol>; empty: the empty-state element; hostId: the room's host;
   * actions(message) -> extra nodes for a line (the host panel's Delete / Mute).
   */
  constructor(list, {empty, hostId, meId, actions} = {}) {
    this.list = list;
    this.empty = empty;
    this.hostId = hostId;
    this.meId = meId;
    this.actions = actions;
    this.stick = true;
    // Shown when lines arrive while the reader has scrolled up to read older ones.
    this.more = h("button", {type: "button", class: "chat-more", hidden: true,
                             onclick: () => this.toBottom()}, t("chat.new_messages"));
    list.after(this.more);
    list.addEventListener("scroll", () => {
      this.stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 24;
      if (this.stick) this.more.hidden = true;
    });
  }

  toBottom() {
    this.list.scrollTop = this.list.scrollHeight;
    this.stick = true;
    this.more.hidden = true;
  }

  reset(messages) {
    this.list.replaceChildren(...messages.map((m) => this.line(m)));
    this.refresh(true);
  }

  add(message) {
    if (this.find(message.id)) return;
    this.list.append(this.line(message));
    while (this.list.children.length > MAX_LINES) this.list.firstElementChild.remove();
    this.refresh(false, true);
  }

  remove(messageId) {
    const node = this.find(messageId);
    if (node) node.remove();
    this.refresh(false);
  }

  find(messageId) {
    return Array.from(this.list.children).find((li) => li.dataset.messageId === String(messageId));
  }

  markUser(userId, muted) {
    for (const li of this.list.children) {
      if (li.dataset.userId === String(userId)) li.classList.toggle("is-muted", muted);
    }
  }

  line(message) {
    const user = message.user || {};
    const isHost = user.id === this.hostId;
    const isMe = user.id === this.meId;
    const name = h("span", {class: "chat-name"}, user.display_name || t("chat.someone"));
    const badges = [];
    if (isHost) badges.push(h("span", {class: "tag tag-host"}, t("chat.host")));
    else if (user.role === "ops") badges.push(h("span", {class: "tag"}, t("chat.staff")));
    if (isMe && !isHost) badges.push(h("span", {class: "tag tag-me"}, t("chat.you")));
    const text = h("span", {class: "chat-text", "data-testid": "chat-text"});
    text.textContent = message.text;
    const li = h("li", {class: `chat-line${isHost ? " from-host" : ""}${isMe ? " from-me" : ""}`,
                        dataset: {messageId: message.id, userId: user.id},
                        title: message.ts ? formatDateTime(message.ts, {date: false}) : null},
      avatar(user, "avatar-sm"),
      h("div", {class: "chat-body"}, h("div", {class: "chat-meta"}, name, ...badges), text),
      this.actions ? this.actions(message) : null);
    return li;
  }

  refresh(force, added = false) {
    if (this.empty) this.empty.hidden = this.list.children.length > 0;
    if (force || this.stick) this.toBottom();
    else if (added) this.more.hidden = false;
  }
}

/**
 * The chat box: sends over the socket, honours slow mode and the per-user
 * rate limit by queueing lines until each may go (none is dropped: lines typed
 * quickly go out one after the other), shows the server's refusals (muted, too
 * long, too fast) under the box, and counts the characters left while typing.
 */
export class ChatComposer {
  constructor(form, {socket, store, notice, minIntervalMs = 1000, maxLength = 300, exempt = false}) {
    this.form = form;
    this.input = form.querySelector("input");
    this.button = form.querySelector("button");
    this.socket = socket;
    this.store = store;
    this.notice = notice;
    this.minIntervalMs = minIntervalMs;
    this.maxLength = maxLength;
    this.exempt = exempt;  // the host is not held back by slow mode
    this.nextAllowedAt = 0;
    this.pending = null;
    // Lines typed before the previous one may go, sent in order as the interval allows.
    this.queue = [];
    this.noticeTimer = null;
    this.counter = h("span", {class: "chat-count", "data-testid": "chat-count", "aria-live": "off"});
    this.button.before(this.counter);
    this.input.addEventListener("input", () => this.count());
    this.count();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    store.on("error", (error) => this.refused(error));
    store.on("muted", () => this.sync());
    store.on("reset", () => this.sync());
    store.on("room", () => this.sync());
  }

  count() {
    const length = this.input.value.length;
    const left = this.maxLength - length;
    this.counter.textContent = `${length}/${this.maxLength}`;
    // Amber when 30 characters are left, red at the limit (the box takes no more).
    this.counter.dataset.level = left <= 0 ? "full" : left <= 30 ? "near" : "far";
  }

  interval() {
    const slow = this.exempt ? 0 : (this.store.state.slow_mode_seconds || 0) * 1000;
    return Math.max(this.minIntervalMs, slow);
  }

  submit() {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > this.maxLength) {
      this.say(t("chat.too_long_local", {max: this.maxLength}), "error");
      return;
    }
    if (this.store.state.muted) {
      this.say(t("chat.muted"), "error");
      return;
    }
    this.input.value = "";
    this.count();
    this.queue.push(text);
    this.drain();
  }

  /** Send the queued lines, each once the interval since the last one has passed. */
  drain() {
    if (this.pending) return;
    const wait = this.nextAllowedAt - Date.now();
    if (!this.queue.length) return;
    if (wait > 0) {
      // Hold them rather than have the server refuse them.
      const waiting = this.queue.length;
      const seconds = Math.ceil(wait / 1000);
      this.say(waiting > 1 ? t("chat.sending_in_waiting", {seconds, waiting}) : t("chat.sending_in", {seconds}), "info");
      this.pending = setTimeout(() => { this.pending = null; this.drain(); }, wait);
      return;
    }
    this.send(this.queue.shift());
    if (this.queue.length) this.drain();
  }

  // Each line has an id of its own, kept when it is sent again after a refusal, so that the
  // server takes a resent line as the same one (comment-to-buy holds one order for it).
  send(text, retried = false, id = lineId()) {
    if (!this.socket.send({type: "chat", text, id})) {
      // Back in the box, with whatever was still waiting after it.
      this.input.value = [text, ...this.queue].join(" ").slice(0, this.maxLength);
      this.queue = [];
      this.count();
      this.say(t("chat.not_connected"), "error");
      return;
    }
    this.lastSent = {text, retried, id, at: Date.now()};
    // A little margin: the server measures the interval from when each line reaches it.
    this.nextAllowedAt = Date.now() + this.interval() + 150;
    this.say("", "info");
  }

  refused(error) {
    const last = this.lastSent;
    const early = error.code === "rate_limited" || error.code === "slow_mode";
    if (early && last && !last.retried && error.retry_after_ms !== undefined && error.retry_after_ms < 60000) {
      // Sent a moment too soon: send it again once the server allows, instead of losing it.
      this.lastSent = null;
      const wait = error.retry_after_ms + 150;
      this.nextAllowedAt = Date.now() + wait;
      this.say(t("chat.sending_in", {seconds: Math.ceil(wait / 1000)}), "info");
      clearTimeout(this.pending);
      this.pending = setTimeout(() => {
        this.pending = null;
        this.send(last.text, true, last.id);
        this.drain();
      }, wait);
      return;
    }
    // Said, not swallowed: the sender sees which line was refused and why.
    const why = this.reason(error);
    const chatRefusal = CHAT_REFUSALS.has(error.code);
    const line = chatRefusal && last && last.text
      ? t("chat.not_sent", {text: last.text.length > 40 ? `${last.text.slice(0, 40)}…` : last.text}) : "";
    this.say(`${line}${why}`, "error");
  }

  reason(error) {
    switch (error.code) {
      case "rate_limited": return t("chat.rate_limited");
      case "slow_mode": {
        const seconds = this.store.state.slow_mode_seconds;
        return seconds ? t("chat.slow_mode", {seconds}) : t("chat.slow_mode_few");
      }
      case "muted": return t("chat.muted");
      case "too_long": return t("chat.too_long", {max: this.maxLength});
      case "empty": return t("chat.empty");
      default: return errorText(error, "chat.refused");
    }
  }

  sync() {
    const s = this.store.state;
    const ended = s.room && s.room.status === "ended";
    const muted = s.muted;
    this.input.disabled = muted || ended;
    this.button.disabled = muted || ended;
    this.form.classList.toggle("is-disabled", muted || ended);
    if (muted) {
      this.input.placeholder = t("chat.muted_placeholder");
      this.say(t("chat.host_muted_you"), "error", true);
    } else if (ended) {
      this.input.placeholder = t("chat.ended_placeholder");
      this.say("", "info");
    } else {
      this.input.placeholder = this.exempt ? t("chat.host_placeholder") : t("room.chat_placeholder");
      if (this.notice && this.notice.dataset.sticky) this.say("", "info");
    }
  }

  say(message, kind, sticky = false) {
    if (!this.notice) return;
    clearTimeout(this.noticeTimer);
    this.notice.textContent = message;
    this.notice.dataset.kind = kind;
    if (sticky) this.notice.dataset.sticky = "1";
    else delete this.notice.dataset.sticky;
    if (message && !sticky) {
      // A passing message clears itself; a standing state (muted) comes back after it.
      this.noticeTimer = setTimeout(() => { this.notice.textContent = ""; this.sync(); }, 5000);
    }
  }
}
