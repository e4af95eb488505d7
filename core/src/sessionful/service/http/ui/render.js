// A session's messages: content blocks rendered (text, images shown, files named, reasoning
// and tool calls folded in <details>).

import { h, num, pretty } from "./dom.js";

const ROLE = { user: "User", assistant: "Agent", system: "System", tool: "Tool" };

function safeImage(block) {
  if (block.base64) {
    const mime = /^image\/[\w.+-]+$/.test(block.mime_type || "") ? block.mime_type : "image/png";
    return `data:${mime};base64,${block.base64}`;
  }
  const src = block.url || "";
  return /^(https?:|data:image\/)/i.test(src) ? src : null;
}

function block(b) {
  switch (b.type) {
    case "text":
      return h("div", { class: "text" }, b.text);
    case "image": {
      const src = safeImage(b);
      const alt = (b.metadata && b.metadata.alt) || b.id || "image";
      return src
        ? h("figure", { class: "image" }, h("img", { src, alt, loading: "lazy" }))
        : h("div", { class: "muted" }, `[image ${b.file_id || ""}]`);
    }
    case "file":
      return h(
        "div",
        { class: "file" },
        "📎 ",
        (b.metadata && b.metadata.filename) || b.file_id || b.url || "file",
        b.mime_type ? ` (${b.mime_type})` : "",
      );
    case "reasoning":
      return h(
        "details",
        { class: "fold reasoning" },
        h("summary", {}, "Reasoning"),
        h("div", { class: "text" }, b.reasoning || ""),
      );
    default:
      return h(
        "details",
        { class: "fold" },
        h("summary", {}, b.type || "block"),
        h("pre", {}, pretty(b.value ?? b)),
      );
  }
}

export function content(value) {
  if (typeof value === "string") return value ? [h("div", { class: "text" }, value)] : [];
  return (value || []).map(block);
}

function toolCalls(message) {
  const calls = [
    ...(message.tool_calls || []),
    ...((message.metadata && message.metadata.tool_calls) || []),
  ];
  const seen = new Set();
  return calls
    .filter((c) => {
      const id = c.id || JSON.stringify(c);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    })
    .map((call) =>
      h(
        "details",
        { class: "fold tool" },
        h("summary", {}, "Tool call: ", h("code", {}, call.name || "?")),
        h("pre", {}, pretty(call.args ?? {})),
      ),
    );
}

/** One message as an <article>. */
export function message(m, extra = {}) {
  const role = m.role || "assistant";
  const body =
    role === "tool"
      ? [
          h(
            "details",
            { class: "fold tool" },
            h("summary", {}, "Tool result", m.name ? [": ", h("code", {}, m.name)] : ""),
            content(m.content),
          ),
        ]
      : [...content(m.content), ...toolCalls(m)];
  const usage = m.usage
    ? h("span", { class: "usage" }, `${num(m.usage.input_tokens)} in / ${num(m.usage.output_tokens)} out`)
    : null;
  return h(
    "article",
    { class: `message ${role}${extra.streaming ? " streaming" : ""}`, ...extra.attrs },
    h("header", {}, h("span", { class: "role" }, ROLE[role] || role), m.name && role !== "tool" ? ` · ${m.name}` : "", usage),
    body,
  );
}

/** The text of a streamed chunk (its text blocks). */
export function chunkText(chunk) {
  if (typeof chunk.content === "string") return chunk.content;
  return (chunk.content || [])
    .filter((b) => b.type === "text")
    .map((b) => b.text)
    .join("");
}
