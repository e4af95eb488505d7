// Small DOM helpers: every text goes in as text (never as HTML).

/** An element: h("a", {href: "#/x", class: "link"}, "text", child, [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A hash link inside the console, its path segments encoded. */
export function route(...segments) {
  return "#/" + segments.map((s) => encodeURIComponent(s)).join("/");
}

const numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export function num(value) {
  return value === null || value === undefined ? "–" : numbers.format(value);
}

/** Seconds as "850 ms", "12.3 s", "4 min", "2.5 h", "3 d". */
export function seconds(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${numbers.format(value)} s`;
  if (value < 7200) return `${numbers.format(value / 60)} min`;
  if (value < 172800) return `${numbers.format(value / 3600)} h`;
  return `${numbers.format(value / 86400)} d`;
}

/** A wall-clock time (Unix seconds or an RFC 3339 string) as local text, or null. */
export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function when(value) {
  const date = toDate(value);
  if (!date) return "–";
  return h("time", { datetime: date.toISOString(), title: date.toISOString() }, ago(date));
}

export function ago(date) {
  const s = (Date.now() - date.getTime()) / 1000;
  if (s < 5) return "just now";
  if (s < 0) return date.toLocaleString();
  return `${seconds(s)} ago`;
}

/** JSON for people: strings as they are, the rest indented. */
export function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/** A definition list of [term, value] pairs, skipping empty values. */
export function facts(pairs, cls = "facts") {
  return h(
    "dl",
    { class: cls },
    pairs
      .filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))),
  );
}
