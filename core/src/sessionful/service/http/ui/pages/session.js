// One session: stats, pending interrupts with approve / answer controls, its history with
// content blocks rendered, a chat box that streams the reply, feedback, and ending it.

import { ApiError, api, capabilities, headers, sessionPath, url } from "../api.js";
import { facts, fill, h, num, pretty, seconds, toDate, when } from "../dom.js";
import { chunkText, message } from "../render.js";
import { events } from "../sse.js";
import { failed, notify } from "../app.js";

const YES = "yes";
const NO = "no";

/** The first of ``keys`` present (not null) in any of ``objects``. */
function pick(objects, keys) {
  for (const object of objects) {
    if (!object) continue;
    for (const key of keys) {
      if (object[key] !== undefined && object[key] !== null) return object[key];
    }
  }
  return undefined;
}

function satisfaction(detail) {
  const places = [detail, detail.stats, detail.stored];
  const nested = pick(places, ["feedback"]);
  const mean = pick(places, ["satisfaction", "feedback_mean", "rating_mean", "mean_rating"]) ??
    (nested && typeof nested === "object" ? nested.mean : undefined);
  const count = pick(places, ["feedback_count", "ratings", "rating_count"]) ??
    (nested && typeof nested === "object" ? nested.count : undefined);
  if (mean === undefined && !count) return null;
  return `${num(mean)}${count !== undefined ? ` (${num(count)} rating${count === 1 ? "" : "s"})` : ""}`;
}

function question(value) {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof value.question === "string") return value.question;
  return pretty(value);
}

export async function render(main, { agentId, sessionId }) {
  const caps = await capabilities();
  const path = sessionPath(agentId, sessionId);
  let detail = await api(path);
  let streaming = false;

  const statsBox = h("section", { class: "card", "aria-labelledby": "stats-title" });
  const interruptsBox = h("section", { class: "card interrupts", "aria-labelledby": "interrupts-title", hidden: true });
  const historyBox = h("ol", { class: "history", "aria-label": "Messages, oldest first" });
  const live = h("div", { class: "live", "aria-live": "polite" });

  // -- stats --------------------------------------------------------------------------------
  function showStats() {
    const stats = detail.stats || {};
    const stored = detail.stored || {};
    const created = toDate(stored.created_at);
    const last = toDate(stored.last_activity);
    const duration = stats.duration ?? (created && last ? (last - created) / 1000 : null);
    const labels = detail.labels || stored.labels;
    fill(
      statsBox,
      h("h2", { id: "stats-title" }, "Stats"),
      facts([
        ["Turns", num(stats.turn_count ?? stored.turn_count ?? 0)],
        ["Messages", num(stats.message_count ?? stored.message_count ?? detail.history.length)],
        ["Duration", seconds(duration)],
        ["Response time (mean)", stats.response_time_mean != null ? seconds(stats.response_time_mean) : null],
        ["Response time (p95)", stats.response_time_p95 != null ? seconds(stats.response_time_p95) : null],
        ["Tokens in / out", `${num(detail.input_tokens)} / ${num(detail.output_tokens)}`],
        ["Satisfaction", satisfaction(detail)],
        ["Created", created ? when(stored.created_at) : null],
        ["Last activity", last ? when(stored.last_activity) : null],
        ["User", detail.user_id || stored.user_id || null],
        ["Labels", labels && Object.keys(labels).length ? Object.entries(labels).map(([k, v]) => h("span", { class: "chip" }, `${k}:${v}`)) : null],
        ["Instance", detail.loaded ? "live in this process" : "not loaded (restored on the next turn)"],
      ]),
    );
  }

  // -- interrupts ---------------------------------------------------------------------------
  function showInterrupts() {
    const pending = detail.interrupts || [];
    interruptsBox.hidden = pending.length === 0;
    chatInput.disabled = pending.length > 0 || streaming;
    sendButton.disabled = pending.length > 0 || streaming;
    chatHint.textContent = pending.length
      ? "The agent waits for an answer to its question above before it takes a new message."
      : "";
    if (!pending.length) {
      interruptsBox.replaceChildren();
      return;
    }
    const inputs = [];
    const submit = () => {
      if (inputs.some((input) => !input.value.trim())) {
        const empty = inputs.find((input) => !input.value.trim());
        empty.focus();
        return;
      }
      const resume = {};
      pending.forEach((interrupt, i) => {
        resume[interrupt.id] = inputs[i].value.trim();
      });
      turn({ resume });
    };
    const rows = pending.map((interrupt, i) => {
      const id = `answer-${i}`;
      const input = h("input", { id, type: "text", autocomplete: "off" });
      inputs.push(input);
      const decide = (answer) => {
        input.value = answer;
        submit();
      };
      const approve = h("button", { type: "button", class: "primary", onclick: () => decide(YES) }, "Approve");
      const reject = h("button", { type: "button", class: "danger", onclick: () => decide(NO) }, "Reject");
      approve.setAttribute("aria-label", `Approve: ${question(interrupt.value)}`);
      reject.setAttribute("aria-label", `Reject: ${question(interrupt.value)}`);
      return h(
        "li",
        { class: "interrupt" },
        h("p", { class: "question" }, question(interrupt.value)),
        typeof interrupt.value === "object" && interrupt.value !== null
          ? h("details", { class: "fold" }, h("summary", {}, "Details"), h("pre", {}, pretty(interrupt.value)))
          : null,
        h("div", { class: "actions" }, approve, reject),
        h("div", { class: "field inline" }, h("label", { for: id }, "Or answer"), input),
      );
    });
    const form = h(
      "form",
      { "aria-labelledby": "interrupts-title" },
      h("ol", { class: "plain" }, rows),
      h("button", { type: "submit" }, pending.length > 1 ? "Send answers" : "Send answer"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    fill(
      interruptsBox,
      h("h2", { id: "interrupts-title" }, pending.length > 1 ? `${pending.length} questions wait for an answer` : "The agent asks"),
      form,
    );
  }

  function showHistory() {
    fill(
      historyBox,
      detail.history.length
        ? detail.history.map((m) => h("li", {}, message(m)))
        : h("li", { class: "muted" }, "No messages yet: say something below."),
    );
  }

  async function refresh() {
    detail = await api(path);
    showStats();
    showInterrupts();
    showHistory();
  }

  // -- a streamed turn ----------------------------------------------------------------------
  async function turn(body) {
    if (streaming) return;
    streaming = true;
    showInterrupts();
    const pendingUser = (body.messages || []).map((m) => h("li", {}, message(m)));
    const texts = [];
    const bubble = h("li", {}, message({ role: "assistant", content: "" }, { streaming: true, attrs: { "aria-busy": "true" } }));
    const bubbleBody = bubble.querySelector("article");
    historyBox.querySelector("li.muted")?.remove();
    historyBox.append(...pendingUser, bubble);
    fill(live, "The agent is answering…");
    try {
      const response = await fetch(url(`${path}/messages/stream`), {
        method: "POST",
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        const data = await response.json().catch(() => null);
        throw new ApiError(response.status, data);
      }
      let done = null;
      for await (const event of events(response)) {
        const data = JSON.parse(event.data);
        if (event.event === "message") {
          const index = (data.metadata && data.metadata.index) || 0;
          texts[index] = (texts[index] || "") + chunkText(data);
          fill(bubbleBody, bubbleBody.firstChild, texts.filter(Boolean).map((t) => h("div", { class: "text" }, t)));
        } else if (event.event === "done") {
          done = data;
        } else if (event.event === "error") {
          throw new ApiError(500, data);
        }
      }
      streaming = false;
      fill(live, done && done.status === "interrupted" ? "The agent asks a question." : "The agent answered.");
      await refresh();
    } catch (error) {
      streaming = false;
      bubble.remove();
      fill(live, "");
      if (error instanceof ApiError && error.status === 401) {
        failed(error);
        return;
      }
      notify(`The turn failed: ${error.message}`, "error");
      await refresh().catch(() => {});
    }
  }

  // -- the chat box -------------------------------------------------------------------------
  const chatInput = h("textarea", { id: "chat-input", name: "message", rows: 2, "aria-describedby": "chat-hint" });
  const sendButton = h("button", { type: "submit", class: "primary" }, "Send");
  const chatHint = h("p", { id: "chat-hint", class: "muted" });
  const chat = h(
    "form",
    { class: "chat", "aria-label": "Send a message" },
    h("label", { for: "chat-input" }, "Message"),
    h("div", { class: "chat-row" }, chatInput, sendButton),
    chatHint,
  );
  const send = () => {
    const text = chatInput.value.trim();
    if (!text || streaming) return;
    chatInput.value = "";
    turn({ messages: [{ role: "user", content: text }] }).then(() => {
      if (!chatInput.disabled) chatInput.focus();
    });
  };
  chat.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  chatInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });

  // -- feedback -----------------------------------------------------------------------------
  let feedbackBox;
  if (caps.feedback) {
    const { min, max } = caps.feedback;
    const choices = [];
    for (let r = min; r <= max; r += 1) {
      choices.push(
        h("label", { class: "choice" }, h("input", { type: "radio", name: "rating", value: String(r), required: true }), ` ${r}`),
      );
    }
    const comment = h("textarea", { id: "feedback-comment", name: "comment", rows: 2 });
    const form = h(
      "form",
      { class: "feedback" },
      h("fieldset", {}, h("legend", {}, `Rating (${min} to ${max})`), h("div", { class: "choices" }, choices)),
      h("label", { for: "feedback-comment" }, "Comment (optional)"),
      comment,
      h("button", { type: "submit" }, "Send feedback"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const rating = Number(new FormData(form).get("rating"));
      const body = { rating };
      if (comment.value.trim()) body.comment = comment.value.trim();
      try {
        await api(`${path}/feedback`, { method: "POST", body });
        form.reset();
        notify("Thank you: the feedback is recorded.");
        await refresh();
      } catch (error) {
        notify(`Feedback failed: ${error.message}`, "error");
      }
    });
    feedbackBox = h("section", { class: "card", "aria-labelledby": "feedback-title" }, h("h2", { id: "feedback-title" }, "Feedback"), form);
  }

  // -- ending it ----------------------------------------------------------------------------
  const confirmEnd = h("button", { type: "button", class: "danger", value: "end" }, "End session");
  const cancelEnd = h("button", { type: "button", value: "cancel" }, "Cancel");
  const dialog = h(
    "dialog",
    { "aria-labelledby": "end-title", "aria-describedby": "end-text" },
    h("h2", { id: "end-title" }, "End this session?"),
    h("p", { id: "end-text" }, "Its agent instance is closed and everything stored for it (history, snapshots) is deleted. This cannot be undone."),
    h("div", { class: "actions" }, cancelEnd, confirmEnd),
  );
  cancelEnd.addEventListener("click", () => dialog.close());
  confirmEnd.addEventListener("click", async () => {
    confirmEnd.disabled = true;
    try {
      const ended = await api(path, { method: "DELETE" });
      dialog.close();
      const deleted = Object.entries(ended.deleted || {}).map(([k, v]) => `${v} ${k}`).join(", ");
      notify(`Session ended${deleted ? `: deleted ${deleted}` : ""}.`);
      location.hash = `#/sessions?agent=${encodeURIComponent(agentId)}`;
    } catch (error) {
      confirmEnd.disabled = false;
      dialog.close();
      notify(`Ending failed: ${error.message}`, "error");
    }
  });
  const endButton = h("button", { type: "button", class: "danger" }, "End session…");
  endButton.addEventListener("click", () => {
    dialog.showModal();
    cancelEnd.focus();
  });
  const refreshButton = h("button", { type: "button", class: "quiet" }, "Refresh");
  refreshButton.addEventListener("click", () => refresh().catch(failed));

  showStats();
  showInterrupts();
  showHistory();
  fill(
    main,
    h("p", { class: "crumbs" }, h("a", { href: `#/sessions?agent=${encodeURIComponent(agentId)}` }, `Sessions of ${agentId}`)),
    h(
      "div",
      { class: "title" },
      h("h1", {}, "Session ", h("code", { class: "id" }, sessionId)),
      h("div", { class: "actions" }, refreshButton, endButton),
    ),
    h(
      "div",
      { class: "session" },
      h(
        "div",
        { class: "conversation" },
        interruptsBox,
        h("section", { class: "card", "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, "History"), historyBox, live),
        h("section", { class: "card" }, chat),
      ),
      h(
        "aside",
        { class: "side" },
        statsBox,
        feedbackBox || h("section", { class: "card" }, h("h2", {}, "Feedback"), h("p", { class: "muted" }, "This service's API takes no feedback yet.")),
      ),
    ),
    dialog,
  );
}
