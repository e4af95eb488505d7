// Agents: what the service runs, with a button to start a session of each.

import { agents, api } from "../api.js";
import { facts, fill, h, route } from "../dom.js";

export async function startSession(agentId) {
  const created = await api(`v1/agents/${encodeURIComponent(agentId)}/sessions`, {
    method: "POST",
    body: {},
  });
  location.hash = route("sessions", created.agent_id, created.session_id);
}

export async function render(main) {
  const [list, overview] = await Promise.all([agents(true), api("ui/api/overview")]);
  const counters = overview.counters || {};
  const cards = list.map((agent) => {
    const c = counters[agent.id] || {};
    const start = h("button", { type: "button", class: "primary" }, "New session");
    start.addEventListener("click", async () => {
      start.disabled = true;
      try {
        await startSession(agent.id);
      } catch (error) {
        start.disabled = false;
        start.after(h("p", { class: "error", role: "alert" }, error.message));
      }
    });
    const named = agent.name && agent.name !== agent.id ? `${agent.name} (${agent.id})` : agent.id;
    start.setAttribute("aria-label", `New session with ${named}`);
    return h(
      "li",
      { class: "card agent" },
      h("h2", {}, agent.name || agent.id),
      facts([
        ["Id", h("code", {}, agent.id)],
        ["Framework", agent.framework],
        ["Template", agent.template_id && `${agent.template_id} v${agent.template_version ?? "1"}`],
        ["Live instances", String(c.active ?? 0)],
        ["Turns here", String(c.turns ?? 0)],
      ]),
      h(
        "div",
        { class: "actions" },
        start,
        h("a", { href: `#/sessions?agent=${encodeURIComponent(agent.id)}` }, "Sessions"),
      ),
    );
  });
  fill(
    main,
    h("h1", {}, "Agents"),
    list.length
      ? h("ul", { class: "grid", "aria-label": "Agents" }, cards)
      : h("p", { class: "muted" }, "No agents are configured."),
  );
}
