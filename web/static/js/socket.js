// The room websocket: connect, keep the last offset, reconnect with exponential
// backoff and resume from that offset (the server answers with a `resume` frame
// and the missed events, or with a fresh `hello` when we are too far behind).
// A signed-in page also keeps the last `user_offset` it saw (the user's own events, in any
// room: their orders, a followed host going live), in memory and in localStorage, so a
// reconnect, another page or another room later is sent the user events it missed
// (`user_resume`, then the events; docs/realtime.md).

import {has, t} from "./i18n.js";

const CLOSE_REASONS = {
  4401: "auth",     // needs a login
  4403: "origin",   // cookie sent from a foreign page: retrying cannot help
  4404: "gone",     // no such room
};
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const PING_EVERY_MS = 25000;

function storedUserOffset(userId) {
  try {
    const raw = window.localStorage.getItem(`livesell:user-offset:${userId}`);
    return raw !== null && /^\d+$/.test(raw) ? Number(raw) : null;
  } catch {
    return null;
  }
}

function storeUserOffset(userId, offset) {
  try {
    // Several tabs share it: keep the furthest any of them got to.
    const stored = storedUserOffset(userId);
    if (stored === null || offset > stored) {
      window.localStorage.setItem(`livesell:user-offset:${userId}`, String(offset));
    }
  } catch {
    // Storage refused (private mode): the reconnects of this page still resume.
  }
}

export class RoomSocket {
  constructor(roomId, {onFrame, onStatus, userId}) {
    this.roomId = roomId;
    this.onFrame = onFrame;
    this.onStatus = onStatus || (() => {});
    this.userId = userId ?? null;
    // This page's own count, so that two tabs each apply every event once.
    this.userOffset = this.userId === null ? null : storedUserOffset(this.userId);
    this.offset = null;
    this.attempt = 0;
    this.ws = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.stopped = false;
    this.state = "idle";
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams();
    if (this.offset !== null) params.set("offset", String(this.offset));
    if (this.userOffset !== null) params.set("user_offset", String(this.userOffset));
    const query = params.toString() ? `?${params}` : "";
    return `${scheme}//${window.location.host}/ws/rooms/${this.roomId}${query}`;
  }

  connect() {
    clearTimeout(this.retryTimer);
    if (this.stopped || this.ws) return;
    this.setState(this.offset === null && this.attempt === 0 ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => this.closed(ws, event));
    ws.addEventListener("open", () => {
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.send({type: "ping"}), PING_EVERY_MS);
    });
  }

  reconnectNow() {
    if (this.stopped || this.ws || this.state === "gone" || this.state === "origin") return;
    this.attempt = 0;
    this.connect();
  }

  receive(raw) {
    let parsed;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return;
    }
    for (const frame of Array.isArray(parsed) ? parsed : [parsed]) this.handle(frame);
  }

  handle(frame) {
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "batch") {
      // Busy rooms pack several events into one message, each as it would come alone.
      for (const inner of (frame.data && frame.data.events) || []) this.handle(inner);
      return;
    }
    if (frame.type === "hello") {
      const offset = frame.data && frame.data.offset;
      this.offset = typeof offset === "number" ? offset : null;
      this.connected();
    } else if (frame.type === "resume") {
      this.connected();
    } else if (frame.type === "user_resume") {
      const to = frame.data && frame.data.to_offset;
      // No offset yet: count from here. An offset from before the server lost the user's
      // counter (it is past `to`): the server sends everything it kept, from the start.
      let restart = null;
      if (typeof to === "number" && this.userOffset === null) restart = to;
      else if (typeof to === "number" && to < this.userOffset) restart = 0;
      if (restart !== null) {
        this.userOffset = restart;
        if (this.userId !== null) {
          try {
            window.localStorage.setItem(`livesell:user-offset:${this.userId}`, String(restart));
          } catch { /* as above */ }
        }
      }
    } else if (typeof frame.user_offset === "number") {
      if (this.userOffset !== null && frame.user_offset <= this.userOffset) return;
      this.userOffset = frame.user_offset;
      if (this.userId !== null) storeUserOffset(this.userId, frame.user_offset);
    } else if (typeof frame.offset === "number") {
      // An event already covered by the snapshot or applied before a reconnect.
      if (this.offset !== null && frame.offset <= this.offset) return;
      this.offset = frame.offset;
    }
    this.onFrame(frame);
  }

  connected() {
    this.attempt = 0;
    this.setState("open");
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  closed(ws, event) {
    if (this.ws === ws) this.ws = null;
    clearInterval(this.pingTimer);
    if (this.stopped) {
      this.setState("idle");
      return;
    }
    const fatal = CLOSE_REASONS[event.code];
    if (fatal) {
      this.setState(fatal, event);
      return;
    }
    this.scheduleRetry();
  }

  scheduleRetry() {
    // Exponential backoff with jitter, so a restarted server is not hit by every client at once.
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
    this.attempt += 1;
    this.setState("reconnecting", {delay});
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  setState(state, detail) {
    this.state = state;
    this.onStatus(state, detail);
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000);
  }
}

export function describeConnection(state) {
  // idle, connecting, reconnecting, open, auth, origin, gone
  return has(`conn.${state}`) ? t(`conn.${state}`) : state;
}
