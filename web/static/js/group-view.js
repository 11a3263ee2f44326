// One group buy's card (拼团): its exact progress ("2 of 3 joined, 04:12 left"), its members'
// display names and whether each paid, and its state. Used by the room's group list
// (room-groups.js) and the group's own page (group.js); the clock is the server's.
import {h} from "./dom.js";
import {t} from "./i18n.js";

/** "04:12", "1:02:03" (hours past a day stay hours: "49:00:00"). */
export function clockText(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hours > 0 ? `${hours}:${two(minutes)}:${two(seconds)}` : `${two(minutes)}:${two(seconds)}`;
}

/** The group's progress line, as of the server's `now` (epoch ms). */
export function progressText(group, now) {
  const joined = t("group.progress", {paid: group.paid_count, size: group.size});
  if (group.status === "formed") return t("group.formed_line", {joined});
  if (group.status === "failed") return t("group.failed_line", {joined});
  const left = group.deadline_ms - now;
  return left > 0 ? t("group.progress_left", {joined, time: clockText(left)})
                  : t("group.progress_over", {joined});
}

export function memberList(group) {
  return h("ul", {class: "group-members", "data-testid": "group-members"},
    ...group.members.map((m) => h("li", {class: `group-member group-member-${m.state}`,
                                         "data-testid": "group-member", "data-state": m.state},
      h("span", {class: "group-member-name"}, m.display_name),
      h("span", {class: "small muted"}, t(`group.member.${m.state}`)))));
}

/** Keep every `[data-group-progress]` under `root` ticking with the server's clock. */
export function tickProgress(root, groups, serverNow) {
  for (const node of root.querySelectorAll("[data-group-progress]")) {
    const group = groups.get(Number(node.dataset.groupProgress));
    if (group) node.textContent = progressText(group, serverNow());
  }
}
