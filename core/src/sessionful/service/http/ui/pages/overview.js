// The overview: live instances, the lifecycle's counts (creations, reuses, restores, ends,
// evictions by reason) and how they move, turn rate and latency, and the cluster's members.

import { api } from "../api.js";
import { facts, fill, h, num, route, seconds } from "../dom.js";

const EVERY = 5000;
const KEEP = 60; // samples: five minutes at one every five seconds
const samples = []; // kept while the tab lives, so coming back shows the recent past

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** A sparkline of ``values`` (null for "no data"), with its summary as its accessible name. */
function spark(values, label, format) {
  const width = 240;
  const height = 48;
  const known = values.filter((v) => v !== null && v !== undefined);
  const max = Math.max(...known, 0) || 1;
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values
    .map((v, i) => (v === null || v === undefined ? null : `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`))
    .filter(Boolean)
    .join(" ");
  const latest = known.length ? known[known.length - 1] : null;
  const text = `${label}: ${latest === null ? "no data yet" : format(latest)} (peak ${format(Math.max(...known, 0))})`;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "spark", role: "img", "aria-label": text, preserveAspectRatio: "none" });
  chart.append(svg("polyline", { points, fill: "none", stroke: "currentColor", "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
  return h("figure", { class: "metric" }, h("figcaption", {}, label, h("strong", {}, latest === null ? "–" : format(latest))), chart);
}

function total(counters, field) {
  return Object.values(counters).reduce((sum, c) => sum + (c[field] || 0), 0);
}

function evictions(counters) {
  const reasons = {};
  for (const c of Object.values(counters)) {
    for (const [reason, n] of Object.entries(c.evicted || {})) reasons[reason] = (reasons[reason] || 0) + n;
  }
  return reasons;
}

/** Per-interval series from the samples: events per minute, turns per second, mean latency. */
function series(field) {
  const out = [];
  for (let i = 1; i < samples.length; i += 1) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = b.time - a.time;
    if (dt <= 0) continue;
    out.push(field(a, b, dt));
  }
  return out;
}

function draw(main, data) {
  const counters = data.counters || {};
  const agentIds = Object.keys(counters);
  const reasons = evictions(counters);
  const rate = series((a, b, dt) => (total(b.counters, "turns") - total(a.counters, "turns")) / dt);
  const latency = series((a, b) => {
    const n = total(b.counters, "turns") - total(a.counters, "turns");
    return n > 0 ? (total(b.counters, "turn_seconds") - total(a.counters, "turn_seconds")) / n : null;
  });
  const perMinute = (field) =>
    series((a, b, dt) => ((total(b.counters, field) - total(a.counters, field)) * 60) / dt);
  const evictedPerMinute = series((a, b, dt) => {
    const count = (s) => Object.values(evictions(s.counters)).reduce((x, y) => x + y, 0);
    return ((count(b) - count(a)) * 60) / dt;
  });
  const perMin = (v) => `${num(v)}/min`;
  const turns = total(counters, "turns");
  const allTimeMean = turns ? total(counters, "turn_seconds") / turns : null;

  const rows = agentIds.map((id) => {
    const c = counters[id];
    return h(
      "tr",
      {},
      h("th", { scope: "row", "data-label": "Agent" }, id),
      h("td", { "data-label": "Live" }, num(c.active)),
      h("td", { "data-label": "Created" }, num(c.created)),
      h("td", { "data-label": "Reused" }, num(c.reused)),
      h("td", { "data-label": "Restored" }, num(c.restored)),
      h("td", { "data-label": "Ended" }, num(c.ended)),
      h(
        "td",
        { "data-label": "Evicted" },
        Object.keys(c.evicted).length
          ? Object.entries(c.evicted).map(([r, n]) => h("span", { class: "chip" }, `${r}: ${n}`))
          : "0",
      ),
      h("td", { "data-label": "Turns" }, num(c.turns)),
      h("td", { "data-label": "Interrupted" }, num(c.interrupted)),
      h("td", { "data-label": "p50 / p95" }, `${seconds(c.turn_p50)} / ${seconds(c.turn_p95)}`),
      h("td", { "data-label": "Tokens in / out" }, `${num(c.input_tokens)} / ${num(c.output_tokens)}`),
    );
  });

  const members = data.members || [];
  fill(
    main,
    h("div", { class: "title" }, h("h1", {}, "Overview"), h("p", { class: "muted" }, `Node ${data.node_id} · strategy ${data.strategy} · updated every ${EVERY / 1000} s`)),
    h(
      "section",
      { class: "tiles", "aria-label": "At a glance" },
      facts(
        [
          ["Live instances", num(total(counters, "active"))],
          ["Created", num(total(counters, "created"))],
          ["Reused", num(total(counters, "reused"))],
          ["Restored", num(total(counters, "restored"))],
          ["Ended", num(total(counters, "ended"))],
          ["Evicted", num(Object.values(reasons).reduce((a, b) => a + b, 0))],
          ["Turns", num(turns)],
          ["Mean turn", seconds(allTimeMean)],
        ],
        "tiles-list",
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "trend-title" },
      h("h2", { id: "trend-title" }, "Over the last minutes"),
      samples.length < 2
        ? h("p", { class: "muted" }, "Collecting: the charts fill in as this page stays open.")
        : h(
            "div",
            { class: "charts" },
            spark(rate, "Turns per second", (v) => num(v)),
            spark(latency, "Mean turn latency", seconds),
            spark(perMinute("created"), "Creations", perMin),
            spark(perMinute("reused"), "Reuses", perMin),
            spark(perMinute("restored"), "Restores", perMin),
            spark(evictedPerMinute, "Evictions", perMin),
          ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "agents-title" },
      h("h2", { id: "agents-title" }, "By agent (this process, since it started)"),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "list" },
          h("thead", {}, h("tr", {}, ["Agent", "Live", "Created", "Reused", "Restored", "Ended", "Evicted", "Turns", "Interrupted", "p50 / p95", "Tokens in / out"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, rows),
        ),
      ),
      Object.keys(reasons).length
        ? h("p", {}, "Evictions by reason: ", Object.entries(reasons).map(([r, n]) => h("span", { class: "chip" }, `${r}: ${n}`)))
        : h("p", { class: "muted" }, "No evictions yet."),
    ),
    h(
      "div",
      { class: "pair" },
      h(
        "section",
        { class: "card", "aria-labelledby": "members-title" },
        h("h2", { id: "members-title" }, members.length > 1 ? `Cluster: ${members.length} members` : "Cluster"),
        members.length > 1 ? null : h("p", { class: "muted" }, "One instance: every session is owned here."),
        h(
          "ul",
          { class: "plain" },
          members.map((m) => h("li", {}, h("code", {}, m.node_id), ` at ${m.address}`, m.self ? h("span", { class: "badge" }, "this one") : "")),
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "live-title" },
        h("h2", { id: "live-title" }, "Your sessions live here"),
        data.live_sessions.length
          ? h(
              "ul",
              { class: "plain" },
              data.live_sessions.map((s) =>
                h(
                  "li",
                  {},
                  h("a", { href: route("sessions", s.agent_id, s.session_id) }, h("code", {}, s.session_id)),
                  ` · ${s.agent_id}`,
                  members.length > 1 ? ` · owner ${s.owner}` : "",
                ),
              ),
            )
          : h("p", { class: "muted" }, "None loaded in this process right now."),
      ),
    ),
  );
}

export async function render(main) {
  let stopped = false;
  const tick = async () => {
    const data = await api("ui/api/overview");
    samples.push(data);
    while (samples.length > KEEP) samples.shift();
    if (stopped) return;
    // Redrawn in place: keep the keyboard where it was.
    const focused = main.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    draw(main, data);
    if (focused) main.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();
  };
  await tick();
  const timer = setInterval(() => {
    tick().catch(() => {}); // a missed sample is a gap, not an error
  }, EVERY);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
