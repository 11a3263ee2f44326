// The live room's video (docs/video.md). The room's stream comes from the ingest as HLS
// (`boot.video.hls_url`, under the room's public id): it plays through hls.js where the
// browser has Media Source Extensions, and natively where it has HLS but no MSE (Safari on
// the iPhone), hls.js's own rule. A playback URL the host pasted wins, as before: an HLS one
// plays the same way, anything else straight in the <video>.
//
// The ingest's stream is loaded only while the room says its video is on air (the `on_air`
// state: an encoder publishing, or dropped less than the grace period ago; live/streams.py).
// Off air the stage says the show is waiting for the host and nothing is fetched ("idle");
// the `on_air` event starts it in the same page. On air, until the playlist has a segment it
// looks again every couple of seconds ("waiting"); a stream that stops (the encoder dropped)
// goes back to waiting, and one that stalls is recovered in place: no reload.

import {has, t} from "./i18n.js";

// A segment is a second long (deploy/nginx): looking every 2 s finds the stream soon after it
// starts, at one small request per viewer per look.
const PLAYLIST_POLL_MS = 2000;
// No progress for this long while meant to be playing: a stall hls.js did not get out of.
const STALL_MS = 6000;
// A stalled player first gets a gentle nudge (recoverMediaError); after this many it starts
// over (a new hls.js on a fresh playlist).
const NUDGES_BEFORE_RESTART = 2;

// The poster's words for a player or room state ("player.<state>").
/** The poster's words for a player or room state (scheduled, waiting, failed, live, ended). */
function stateText(state) {
  return has(`player.${state}`) ? t(`player.${state}`) : "";
}

function isHls(url) {
  try {
    return new URL(url, location.href).pathname.endsWith(".m3u8");
  } catch {
    return false;
  }
}

function hasMse() {
  return Boolean(window.MediaSource || window.ManagedMediaSource);
}

let hlsLoading = null;
// hls.js is 600 kB: fetched only when a stream is to be played with it.
function loadHls(src) {
  if (window.Hls) return Promise.resolve(window.Hls);
  hlsLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error("hls.js did not load")));
    script.onerror = () => { hlsLoading = null; reject(new Error("hls.js did not load")); };
    document.head.append(script);
  });
  return hlsLoading;
}

async function playlistHasSegments(url) {
  try {
    const response = await fetch(url, {cache: "no-store", mode: "cors", credentials: "omit"});
    if (!response.ok) return false;
    const text = await response.text();
    return /#EXTINF/.test(text);
  } catch {
    return false;
  }
}

export class LiveVideo {
  constructor({video, poster, posterText, hlsUrl, hlsScript, onAir = false}) {
    this.video = video;
    this.onAir = Boolean(onAir);
    this.room = null;
    this.poster = poster;
    this.posterText = posterText;
    this.hlsUrl = hlsUrl || null;
    this.hlsScript = hlsScript;
    this.src = null; // what is wanted
    this.state = "off"; // off | idle (live, off air) | waiting | playing | failed
    this.status = "scheduled";
    this.hls = null;
    this.pollTimer = null;
    this.watchdog = null;
    this.lastTime = -1;
    this.lastProgressAt = 0;
    this.nudges = 0;
    this.generation = 0; // bumps on every (re)start: late callbacks of an older one do nothing
    video.addEventListener("error", () => this.onNativeError());
    video.addEventListener("timeupdate", () => this.onProgress());
    video.dataset.state = this.state;
  }

  // The room's status or playback URL changed (or the page loaded).
  show(room) {
    this.room = room;
    this.status = room.status;
    const pasted = room.playback_url || null;
    let wanted = null;
    if (room.status !== "ended") {
      // A pasted file plays whenever the room is not over; the ingest's stream only once live
      // and on air.
      if (pasted) wanted = pasted;
      else if (room.status === "live" && this.onAir) wanted = this.hlsUrl;
    }
    if (wanted !== this.src) {
      this.stop();
      this.src = wanted;
      if (wanted) this.start();
    }
    if (!this.src && room.status === "live" && this.hlsUrl && !pasted) this.setState("idle");
    this.render();
  }

  // The room's video went on air or off air (the hello's `on_air`, an `on_air` event).
  setOnAir(onAir) {
    this.onAir = Boolean(onAir);
    if (this.room) this.show(this.room);
  }

  start() {
    const generation = ++this.generation;
    if (isHls(this.src)) {
      this.setState("waiting");
      this.waitForStream(generation);
    } else {
      this.video.src = this.src;
      this.setState("playing");
      this.video.play().catch(() => {});
    }
  }

  stop() {
    this.generation++;
    clearTimeout(this.pollTimer);
    clearInterval(this.watchdog);
    this.pollTimer = null;
    this.watchdog = null;
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.video.hasAttribute("src")) {
      this.video.pause();
      this.video.removeAttribute("src");
      this.video.load();
    }
    this.setState("off");
  }

  restart() {
    const src = this.src;
    this.stop();
    this.src = src;
    if (src) this.start();
    this.render();
  }

  async waitForStream(generation) {
    if (generation !== this.generation) return;
    if (await playlistHasSegments(this.src)) {
      if (generation === this.generation) await this.attach(generation);
      return;
    }
    if (generation === this.generation) {
      this.pollTimer = setTimeout(() => this.waitForStream(generation), PLAYLIST_POLL_MS);
    }
  }

  async attach(generation) {
    const video = this.video;
    if (hasMse()) {
      let Hls;
      try {
        Hls = await loadHls(this.hlsScript);
      } catch {
        if (generation === this.generation) this.setState("failed");
        return;
      }
      if (generation !== this.generation) return;
      if (Hls.isSupported()) {
        // No worker: the page's CSP allows scripts from this origin only (no blob: workers).
        const hls = new Hls({enableWorker: false, lowLatencyMode: true, liveSyncDurationCount: 2});
        this.hls = hls;
        hls.on(Hls.Events.ERROR, (_event, data) => {
          if (!data.fatal || generation !== this.generation) return;
          if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
            hls.recoverMediaError();
          } else {
            // The playlist is gone (the encoder stopped) or the network failed: wait for the
            // stream again, as before the first segment.
            this.restart();
          }
        });
        hls.loadSource(this.src);
        hls.attachMedia(video);
        this.playing(generation);
        return;
      }
    }
    if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = this.src;
      this.playing(generation);
      return;
    }
    this.setState("failed");
  }

  playing(generation) {
    this.setState("playing");
    this.video.play().catch(() => {});
    this.lastTime = -1;
    this.lastProgressAt = performance.now();
    this.nudges = 0;
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => this.checkStall(generation), STALL_MS / 2);
  }

  onProgress() {
    if (this.video.currentTime !== this.lastTime) {
      this.lastTime = this.video.currentTime;
      this.lastProgressAt = performance.now();
      this.nudges = 0;
    }
  }

  checkStall(generation) {
    if (generation !== this.generation || this.state !== "playing" || this.video.paused) return;
    if (performance.now() - this.lastProgressAt < STALL_MS) return;
    this.lastProgressAt = performance.now();
    if (this.hls && this.nudges < NUDGES_BEFORE_RESTART) {
      this.nudges++;
      this.hls.recoverMediaError();
      this.video.play().catch(() => {});
    } else {
      this.restart();
    }
  }

  onNativeError() {
    if (!this.video.getAttribute("src") || this.hls) return;
    if (isHls(this.src)) {
      this.restart(); // Safari's own HLS: the stream went away; wait for it again
    } else {
      this.setState("failed");
    }
  }

  setState(state) {
    this.state = state;
    this.video.dataset.state = state;
    this.render();
  }

  render() {
    const playing = this.state === "playing";
    this.video.hidden = !playing;
    this.poster.hidden = playing;
    // idle: off air, nothing fetched; it says the same as waiting for the first segment
    let text = stateText(this.state === "idle" ? "waiting" : this.state);
    if (this.state === "off") {
      text = stateText(this.status);
    }
    this.posterText.textContent = text;
  }
}

// A recorded HLS video (a short video's master playlist): hls.js where the browser has MSE,
// else its own HLS. Returns the hls.js instance (or null).
export async function playRecorded(video, url, hlsScript) {
  if (hasMse()) {
    const Hls = await loadHls(hlsScript);
    if (Hls.isSupported()) {
      const hls = new Hls({enableWorker: false});
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal && data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else if (data.fatal && data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      video.play().catch(() => {});
      return hls;
    }
  }
  video.src = url;
  video.play().catch(() => {});
  return null;
}
