// The API, as any other client uses it: the key from the login screen, kept in this tab's
// sessionStorage only, sent as "Authorization: Bearer <key>".

const KEY = "sessionful.apiKey";

/** The service's root: the folder above /ui/ (so a proxy's path prefix is kept). */
export const base = new URL("../", document.baseURI);

export const auth = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || `http_${status}`;
    this.body = error;
  }
}

export function url(path, query = {}) {
  const target = new URL(path.replace(/^\//, ""), base);
  for (const [name, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => target.searchParams.append(name, v));
    else target.searchParams.set(name, value);
  }
  return target;
}

export function headers(extra = {}) {
  const all = { Accept: "application/json", ...extra };
  const key = auth.key;
  if (key) all.Authorization = `Bearer ${key}`;
  return all;
}

/** Call the API; the JSON answer, or an ApiError with its code and message. */
export async function api(path, { method = "GET", body, query, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url(path, query), init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function sessionPath(agentId, sessionId, tail = "") {
  return `v1/agents/${encodeURIComponent(agentId)}/sessions/${encodeURIComponent(sessionId)}${tail}`;
}

let spec = null;

/** What this server's API offers, read from its OpenAPI schema, so the console shows the
 * filters, feedback and agent listing when (and only when) the API has them. */
export async function capabilities() {
  if (spec) return spec;
  const schema = await api("openapi.json");
  const paths = schema.paths || {};
  const resolve = (node) => {
    let seen = 0;
    while (node && node.$ref && seen++ < 10) {
      node = node.$ref.split("/").slice(1).reduce((at, part) => (at ? at[part] : undefined), schema);
    }
    return node || {};
  };
  const query = (op) =>
    ((op && op.parameters) || []).map(resolve).filter((p) => p.in === "query");
  const listing = paths["/v1/sessions"] && paths["/v1/sessions"].get;
  const feedbackPath = Object.keys(paths).find(
    (p) => /^\/v1\/agents\/\{agent_id\}\/sessions\/\{session_id\}\/feedback$/.test(p) && paths[p].post,
  );
  let feedback = null;
  if (feedbackPath) {
    const body = paths[feedbackPath].post.requestBody;
    const json = body && body.content && body.content["application/json"];
    const model = resolve(json && json.schema);
    const props = model.properties || {};
    const rating = resolve(props.rating);
    const range = (rating.anyOf || [rating]).map(resolve).find((r) => r.type) || rating;
    feedback = {
      fields: Object.keys(props),
      min: range.minimum ?? range.exclusiveMinimum ?? 1,
      max: range.maximum ?? range.exclusiveMaximum ?? 5,
    };
  }
  spec = {
    listParams: query(listing),
    agentsRoute: Boolean(paths["/v1/agents"] && paths["/v1/agents"].get),
    feedback,
    historyParams: query(
      paths["/v1/agents/{agent_id}/sessions/{session_id}"] &&
        paths["/v1/agents/{agent_id}/sessions/{session_id}"].get,
    ),
  };
  return spec;
}

/** Who the console talks as: {auth_required, authenticated, principal}. Never fails on a bad
 * key (a 200 saying so), so checking one logs no error in the browser. */
export function whoami(key = auth.key) {
  const extra = key ? { Authorization: `Bearer ${key}` } : {};
  return fetch(url("ui/api/whoami"), { headers: { Accept: "application/json", ...extra } }).then(
    (r) => {
      if (!r.ok) throw new ApiError(r.status, null);
      return r.json();
    },
  );
}

let agentsCache = null;

/** The configured agents: GET /v1/agents when the API has it, else the console's overview. */
export async function agents(fresh = false) {
  if (agentsCache && !fresh) return agentsCache;
  const caps = await capabilities();
  let list;
  if (caps.agentsRoute) {
    const data = await api("v1/agents");
    list = Array.isArray(data) ? data : data.agents || [];
  } else {
    list = (await api("ui/api/overview")).agents;
  }
  agentsCache = list.map((a) => ({ ...a, id: a.id ?? a.agent_id }));
  return agentsCache;
}

export function forget() {
  agentsCache = null;
}
