// The room's state as the page sees it, kept by applying websocket frames in
// order. Pages subscribe to topics; other modules (flash sales) can listen to
// every frame through store.on("frame", fn) or the `livesell:frame` DOM event.

const MAX_CHAT = 200;

export class RoomStore {
  constructor({room, lineup = [], pin = null} = {}) {
    this.state = {
      room, lineup, pin,
      viewers: 0, likes: 0, chat: [], you: null, muted: false,
      slow_mode_seconds: room ? room.slow_mode_seconds || 0 : 0,
      sale: null, snapshot: {},
    };
    this.listeners = new Map();
  }

  on(topic, fn) {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic).add(fn);
    return () => this.listeners.get(topic).delete(fn);
  }

  emit(topic, payload) {
    for (const fn of this.listeners.get(topic) || []) {
      try {
        fn(payload, this.state);
      } catch (err) {
        console.error(`livesell: a ${topic} listener failed`, err);
      }
    }
  }

  apply(frame) {
    const s = this.state;
    const d = frame.data || {};
    switch (frame.type) {
      case "hello":
        s.snapshot = d;
        s.room = d.room || s.room;
        s.lineup = d.lineup || [];
        s.pin = d.pin || null;
        s.viewers = d.viewers || 0;
        s.likes = d.likes || 0;
        s.chat = (d.chat || []).slice(-MAX_CHAT);
        s.you = d.you || null;
        s.muted = Boolean(d.muted);
        s.slow_mode_seconds = d.slow_mode_seconds ?? (s.room && s.room.slow_mode_seconds) ?? 0;
        s.sale = d.sale ?? null;
        this.emit("reset", d);
        break;
      case "resume":
        if (typeof d.viewers === "number") { s.viewers = d.viewers; this.emit("viewers", s.viewers); }
        if (typeof d.likes === "number") { s.likes = d.likes; this.emit("likes", {total: s.likes, delta: 0}); }
        break;
      case "chat":
        if (s.chat.some((m) => m.id === d.id)) break;
        const message = frame.ts ? {...d, ts: frame.ts} : d;
        s.chat.push(message);
        if (s.chat.length > MAX_CHAT) s.chat.splice(0, s.chat.length - MAX_CHAT);
        this.emit("chat", message);
        break;
      case "pin":
        s.pin = d.product || null;
        this.emit("pin", s.pin);
        break;
      case "unpin":
        s.pin = null;
        this.emit("pin", null);
        break;
      case "lineup":
        s.lineup = d.products || [];
        if (s.pin) {
          // A changed product (price, stock) reaches the pinned card through the lineup event.
          // Lineup entries leave the description out, except the pinned product's.
          const fresh = s.lineup.find((p) => p.id === s.pin.id);
          s.pin = fresh ? {...s.pin, ...fresh} : s.pin;
          this.emit("pin", s.pin);
        }
        this.emit("lineup", s.lineup);
        break;
      case "room":
        s.room = d;
        s.slow_mode_seconds = d.slow_mode_seconds || 0;
        if (d.status === "ended" && s.pin) {
          s.pin = null;
          this.emit("pin", null);
        }
        this.emit("room", d);
        break;
      case "moderation":
        this.moderate(d);
        break;
      case "viewers":
        s.viewers = d.count || 0;
        this.emit("viewers", s.viewers);
        break;
      case "likes":
        s.likes = d.total || 0;
        this.emit("likes", d);
        break;
      case "error":
        this.emit("error", d);
        break;
      default:
        break;
    }
    this.emit("frame", frame);
    document.dispatchEvent(new CustomEvent("livesell:frame", {detail: frame}));
  }

  moderate(d) {
    const s = this.state;
    if (d.action === "delete") {
      s.chat = s.chat.filter((m) => m.id !== d.message_id);
      this.emit("chat:delete", d.message_id);
    } else if (d.action === "mute" || d.action === "unmute") {
      if (s.you && d.user_id === s.you.id) {
        s.muted = d.action === "mute";
        this.emit("muted", s.muted);
      }
    }
    this.emit("moderation", d);
  }
}
