// Product card views and clicks for the broadcast report's funnel (the analytics work's module).
import "/static/ops/room-tracking.js";
