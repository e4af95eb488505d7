// Sessions: the caller's stored sessions, filtered by agent (and by user, label and activity
// when the API's listing takes them), most recently active first, a page at a time.

import { agents, api, capabilities } from "../api.js";
import { fill, h, num, route, toDate, when } from "../dom.js";
import { startSession } from "./agents.js";

const CURSORS = ["after", "cursor"];
const PAGE = 25;
const WINDOWS = [
  ["", "Any time"],
  ["3600", "Last hour"],
  ["86400", "Last 24 hours"],
  ["604800", "Last 7 days"],
  ["2592000", "Last 30 days"],
];

function schemaOf(param) {
  const schema = param.schema || {};
  const typed = (schema.anyOf || [schema]).find((s) => s.type && s.type !== "null") || schema;
  return typed;
}

/** A listing parameter that bounds the last activity from below ("active since"). */
function isWindow(param) {
  return !CURSORS.includes(param.name) && /(activ|since|from|newer|updated_after)/i.test(param.name)
    && !/(before|until|older)/i.test(param.name);
}

function windowValue(param, secondsAgo) {
  if (!secondsAgo) return "";
  const at = Date.now() / 1000 - Number(secondsAgo);
  const type = schemaOf(param).type;
  return type === "number" || type === "integer" ? String(Math.floor(at)) : new Date(at * 1000).toISOString();
}

function labelText(name) {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export async function render(main, { query }) {
  const caps = await capabilities();
  const [agentList, overview] = await Promise.all([agents(), api("ui/api/overview")]);
  const params = caps.listParams;
  const names = new Set(params.map((p) => p.name));
  const cursorName = CURSORS.find((c) => names.has(c)) || "after";
  const serverAgent = names.has("agent_id");
  const sortParam = params.find((p) => /^(sort|order|order_by)$/.test(p.name));
  const extra = params.filter(
    (p) => !CURSORS.includes(p.name) && !["limit", "agent_id"].includes(p.name) && p !== sortParam,
  );

  // The form: agent, then whatever else the listing filters on.
  const agentSelect = h(
    "select",
    { id: "filter-agent", name: "agent" },
    h("option", { value: "" }, "All agents"),
    agentList.map((a) => h("option", { value: a.id, selected: query.get("agent") === a.id }, a.name || a.id)),
  );
  const fields = [
    h("div", { class: "field" }, h("label", { for: "filter-agent" }, "Agent"), agentSelect),
  ];
  for (const param of extra) {
    const id = `filter-${param.name}`;
    let control;
    if (isWindow(param)) {
      control = h(
        "select",
        { id, name: param.name, "data-window": "1" },
        WINDOWS.map(([v, text]) => h("option", { value: v, selected: query.get(param.name) === v }, text)),
      );
    } else {
      const array = schemaOf(param).type === "array";
      control = h("input", {
        id,
        name: param.name,
        type: "text",
        value: query.get(param.name) || "",
        placeholder: array || param.name === "label" ? "key:value, key:value" : "",
        title: param.description || null,
      });
    }
    fields.push(h("div", { class: "field" }, h("label", { for: id }, labelText(param.name === "label" ? "labels" : param.name)), control));
  }
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter sessions" },
    fields,
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const el of form.elements) {
      if (el.name && el.value) next.set(el.name, el.value);
    }
    location.hash = `#/sessions?${next}`;
  });

  // The page of sessions.
  const request = { limit: PAGE, [cursorName]: query.get("cursor") || undefined };
  if (serverAgent) request.agent_id = query.get("agent") || undefined;
  if (sortParam) {
    const values = (schemaOf(sortParam).enum || []).filter((v) => /activ/.test(v));
    request[sortParam.name] = values.find((v) => v.startsWith("-")) || values[0];
  }
  for (const param of extra) {
    const raw = query.get(param.name);
    if (!raw) continue;
    if (isWindow(param)) request[param.name] = windowValue(param, raw);
    else if (schemaOf(param).type === "array" || param.name === "label") {
      request[param.name] = raw.split(",").map((s) => s.trim()).filter(Boolean);
    } else request[param.name] = raw;
  }
  const page = await api("v1/sessions", { query: request });
  let sessions = page.sessions || page.items || [];
  const agentFilter = query.get("agent");
  if (agentFilter && !serverAgent) sessions = sessions.filter((s) => s.agent_id === agentFilter);
  const activity = (s) => (toDate(s.last_activity) || new Date(0)).getTime();
  sessions.sort((a, b) => activity(b) - activity(a));
  const next = page.next_after ?? page.next_cursor ?? page.next ?? null;

  const clustered = (overview.members || []).length > 1;
  let owners = {};
  if (clustered && sessions.length) {
    owners = await api("ui/api/owners", { query: { session_id: sessions.map((s) => s.session_id) } });
  }
  const hasUsers = sessions.some((s) => s.user_id);
  const hasLabels = sessions.some((s) => s.labels && Object.keys(s.labels).length);
  const feedbackOf = (s) => s.feedback_mean ?? s.satisfaction ?? (s.feedback && s.feedback.mean);
  const hasFeedback = sessions.some((s) => feedbackOf(s) !== undefined && feedbackOf(s) !== null);

  const columns = [
    ["Session", (s) => h("a", { href: route("sessions", s.agent_id, s.session_id) }, h("code", {}, s.session_id))],
    ["Agent", (s) => s.agent_id],
    ["Last activity", (s) => when(s.last_activity)],
    ["Turns", (s) => num(s.turn_count)],
    ["Messages", (s) => num(s.message_count)],
    ["Tokens in / out", (s) => `${num(s.input_tokens)} / ${num(s.output_tokens)}`],
    ["Pending", (s) => (s.pending_interrupts ? h("span", { class: "badge warn" }, `${s.pending_interrupts} to answer`) : "–")],
  ];
  if (hasUsers) columns.splice(2, 0, ["User", (s) => s.user_id || "–"]);
  if (hasLabels) {
    columns.push(["Labels", (s) => Object.entries(s.labels || {}).map(([k, v]) => h("span", { class: "chip" }, `${k}:${v}`))]);
  }
  if (hasFeedback) columns.push(["Satisfaction", (s) => num(feedbackOf(s))]);
  if (clustered) columns.push(["Owner", (s) => owners[s.session_id] || "–"]);

  const table = sessions.length
    ? h(
        "table",
        { class: "list" },
        h("caption", { class: "sr-only" }, "Sessions, most recently active first"),
        h("thead", {}, h("tr", {}, columns.map(([name]) => h("th", { scope: "col" }, name)))),
        h(
          "tbody",
          {},
          sessions.map((s) => h("tr", {}, columns.map(([name, cell]) => h("td", { "data-label": name }, cell(s))))),
        ),
      )
    : h("p", { class: "muted" }, "No sessions on this page.");

  const base = new URLSearchParams(query);
  base.delete("cursor");
  const first = `#/sessions${base.toString() ? `?${base}` : ""}`;
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Pages of sessions" },
    query.get("cursor") ? h("a", { href: first }, "First page") : null,
    next
      ? h("a", { href: `#/sessions?${new URLSearchParams({ ...Object.fromEntries(base), cursor: next })}`, rel: "next" }, "Next page")
      : h("span", { class: "muted" }, "Last page"),
  );

  const create = h("button", { type: "button", class: "primary" }, "New session");
  create.addEventListener("click", async () => {
    const agent = agentSelect.value || (agentList[0] && agentList[0].id);
    if (agent) await startSession(agent);
  });
  fill(
    main,
    h("div", { class: "title" }, h("h1", {}, "Sessions"), create),
    form,
    h(
      "p",
      { class: "muted" },
      "Most recently active first",
      sortParam ? "" : " (within each page: the API pages in its own order)",
      agentFilter && !serverAgent ? "; the agent filter applies to this page" : "",
      ".",
    ),
    h("div", { class: "table-wrap" }, table),
    pager,
  );
}
