// The room's state as the page sees it, kept by applying websocket frames in order: the
// room, lineup, pin, chat, counts, and the flash sale with its counters and the server's
// clock. Every module of a page (the page itself, its flash-sale card, the product tracking)
// reads this one store and subscribes to its topics:
//   reset (a hello), pin, lineup, room, on_air (the video on air or not), chat, chat:delete, moderation, muted, viewers, likes, purchase,
//   sale (the sale or its counters changed), order (the viewer's own order), bargain (a cut of
//   the user's bargain), bargain_offer (an offer made or withdrawn in the room), error,
//   units (a product's units left at the regular price, per variant: `variant_stock` events),
//   and frame (every frame, after it is applied).

const MAX_CHAT = 200;
// The server's refusals kept for the page (and the tests) to read.
const MAX_ERRORS = 20;

export const ACTIVE_SALE_STATUSES = new Set(["scheduled", "running"]);

export class RoomStore {
  constructor({room, lineup = [], pin = null, on_air = false} = {}) {
    this.state = {
      room, lineup, pin, on_air,
      viewers: 0, likes: 0, buyers: 0, chat: [], you: null, muted: false,
      slow_mode_seconds: room ? room.slow_mode_seconds || 0 : 0,
      sale: null,    // the room's current (or last) flash sale, its public view
      stock: null,   // its counters {sale_id, remaining, reserved, sold}, from `stock` events
      units: {},     // product id -> {product_id, remaining, variants: [{id, remaining}]}
      snapshot: {},  // the whole data of the last hello
    };
    this.errors = [];
    // The server's clock minus ours, from the last frame that carried it: countdowns run on
    // the server's time, so a sale opens at the same moment for every viewer.
    this.clockOffsetMs = null;
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

  serverNow() {
    return Date.now() + (this.clockOffsetMs || 0);
  }

  setClock(serverTimeMs) {
    if (typeof serverTimeMs === "number" && serverTimeMs > 0) this.clockOffsetMs = serverTimeMs - Date.now();
  }

  /** A product's units left at the regular price: the last `variant_stock` news of it, else
   *  its stock as the lineup has it (held and bought units included). */
  unitsLeft(product) {
    const units = product && this.state.units[product.id];
    return units ? units.remaining : product ? product.stock : 0;
  }

  /** The current sale's counters: the `stock` events' when they are of this sale, else the sale's own. */
  counters() {
    const {sale, stock} = this.state;
    if (!sale) return null;
    if (stock && stock.sale_id === sale.id) return stock;
    if (typeof sale.remaining === "number") {
      return {sale_id: sale.id, remaining: sale.remaining, reserved: sale.reserved || 0, sold: sale.sold || 0};
    }
    return null;
  }

  /** warmup | live | soldout | ended, on the server's clock; null without a sale. */
  salePhase() {
    const sale = this.state.sale;
    if (!sale) return null;
    if (!ACTIVE_SALE_STATUSES.has(sale.status)) return "ended";
    const now = this.serverNow();
    if (now >= sale.ends_at_ms) return "ended";
    if (now < sale.starts_at_ms) return "warmup";
    const count = this.counters();
    return count && count.remaining <= 0 ? "soldout" : "live";
  }

  /** Take a sale (from a frame or an API reply); `stock` wins over the sale's own counters. */
  takeSale(sale, stock = null, {quiet = false} = {}) {
    const s = this.state;
    if (!sale) return;
    if (s.stock && s.stock.sale_id !== sale.id) s.stock = null;
    s.sale = sale;
    // A sale's own counters are as of its event, newer than any stock event before it; a
    // stock state handed in with it (the hello's) is refreshed by every stock event, so it wins.
    if (typeof sale.remaining === "number") {
      s.stock = {sale_id: sale.id, remaining: sale.remaining, reserved: sale.reserved || 0, sold: sale.sold || 0};
    }
    if (stock && stock.sale_id === sale.id) s.stock = stock;
    if (!quiet) this.emit("sale", s.sale);
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
        s.on_air = Boolean(d.on_air);
        s.viewers = d.viewers || 0;
        s.likes = d.likes || 0;
        s.buyers = d.buyers || 0;
        s.chat = (d.chat || []).slice(-MAX_CHAT);
        s.you = d.you || null;
        s.muted = Boolean(d.muted);
        s.slow_mode_seconds = d.slow_mode_seconds ?? (s.room && s.room.slow_mode_seconds) ?? 0;
        // The hub's clock at the snapshot: close enough until a sale event brings Redis's own.
        if (this.clockOffsetMs === null) this.setClock(frame.ts);
        s.sale = null;
        s.stock = null;
        // The room state keeps the last units-left news of each product as `variant_stock:<id>`.
        s.units = {};
        for (const [name, value] of Object.entries(d)) {
          if (name.startsWith("variant_stock:") && value) s.units[value.product_id] = value;
        }
        if (d.sale) this.takeSale(d.sale, d.stock || null, {quiet: true});
        this.emit("reset", d);
        this.emit("sale", s.sale);
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
        if (d.status === "ended" && s.on_air) {
          s.on_air = false;
          this.emit("on_air", false);
        }
        this.emit("room", d);
        break;
      case "on_air":
        s.on_air = Boolean(d.on_air);
        this.emit("on_air", s.on_air);
        break;
      case "sale":
        this.setClock(d.server_time_ms);
        if (d.sale) this.takeSale(d.sale);
        break;
      case "stock":
        if (s.sale && d.sale_id === s.sale.id) {
          s.stock = d;
          this.emit("sale", s.sale);
        }
        break;
      case "variant_stock":
        s.units[d.product_id] = d;
        this.emit("units", d);
        break;
      // Passed on as they come, under their own name: the user's order; comment-to-buy's answer
      // to this viewer's own chat line (the held order, or a hint); a friend's cut of this
      // user's bargain (orders/bargains.py); the host's bargain offer in the room, or its
      // withdrawal (room-bargains.js); the user's own news (a followed host went live: the
      // header's badge and a toast).
      case "order":
      case "chat_buy":
      case "bargain":
      case "bargain_offer":
      case "notification":
        this.emit(frame.type, d);
        break;
      case "purchase":
        // "L*** just bought" (with `others` folded in from a busy moment) and the buyers so far.
        s.buyers = Math.max(s.buyers || 0, d.buyers || 0);
        this.emit("purchase", d);
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
        this.errors.push(d);
        if (this.errors.length > MAX_ERRORS) this.errors.shift();
        this.emit("error", d);
        break;
      default:
        break;
    }
    this.emit("frame", frame);
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
