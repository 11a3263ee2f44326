// The feeds' page (/videos): the first page comes rendered; "More videos" asks the API for the
// next one by the cursor the page before ended at, and appends it (never a video twice: the
// cursor is where the last page ended, not an offset).
import {api} from "./api.js";
import {$, h, readBoot, toast} from "./dom.js";
import {errorText} from "./i18n.js";

const boot = readBoot();
const list = $("[data-testid=video-feed]");
const more = $("#feed-more");
let cursor = boot.next_cursor;

function item(video) {
  return h("li", {class: "video-feed-item", dataset: {videoId: video.id}},
    h("a", {href: `/videos/${video.id}`, "data-testid": "video-feed-link"},
      h("img", {class: "video-feed-poster", src: video.poster_url, alt: "", loading: "lazy"}),
      h("span", {class: "video-feed-title"}, video.title)));
}

async function loadMore() {
  if (!cursor) return;
  more.disabled = true;
  try {
    const params = new URLSearchParams({feed: boot.feed, cursor});
    const page = await api("GET", `/api/videos?${params}`);
    list.append(...page.videos.map(item));
    cursor = page.next_cursor;
  } catch (err) {
    toast(errorText(err), "error");
  } finally {
    more.disabled = false;
    more.parentElement.hidden = !cursor;
  }
}

if (list && more) more.addEventListener("click", loadMore);
