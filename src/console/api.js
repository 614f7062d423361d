/**
 * The console's only way to the Core: same-origin fetch and EventSource with relative URLs. The
 * page holds no key: the browser child signs these requests on its way out (src/browser).
 */

/**
 * @typedef {{ type?: string, title?: string, status: number, detail?: string, code?: string, issues?: { path: string, message: string }[] }} Problem
 * @typedef {{ ok: true, status: number, body: any, headers: Headers } | { ok: false, status: number, problem: Problem }} ApiResult
 */

/**
 * @param {Response} response
 * @returns {Promise<ApiResult>}
 */
async function readResult(response) {
  const type = response.headers.get("content-type") ?? "";
  /** @type {any} */
  let body = null;
  try {
    body = type.includes("json") ? await response.json() : await response.text();
  } catch {
    body = null;
  }
  if (response.ok) return { ok: true, status: response.status, body, headers: response.headers };
  const problem = body && typeof body === "object" ? body : { status: response.status, title: response.statusText || `HTTP ${response.status}`, detail: typeof body === "string" ? body.slice(0, 300) : undefined };
  return { ok: false, status: response.status, problem: { ...problem, status: response.status } };
}

/**
 * @param {string} method
 * @param {string} path relative to the Core's origin
 * @param {unknown} [body]
 * @returns {Promise<ApiResult>}
 */
export async function request(method, path, body) {
  /** @type {RequestInit} */
  const init = { method, headers: { accept: "application/json, application/problem+json" }, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, "content-type": "application/json" };
  }
  try {
    return await readResult(await fetch(path, init));
  } catch (error) {
    return { ok: false, status: 0, problem: { status: 0, title: "The Core cannot be reached", detail: String(/** @type {Error} */ (error).message ?? error) } };
  }
}

export const getJson = (/** @type {string} */ path) => request("GET", path);
export const postJson = (/** @type {string} */ path, /** @type {unknown} */ body) => request("POST", path, body);
export const deleteJson = (/** @type {string} */ path) => request("DELETE", path);

/**
 * One line for a problem, for people: "422 Unprocessable Content: the request does not match…".
 * @param {Problem} problem
 */
export function describeProblem(problem) {
  const head = problem.status ? `${problem.status} ${problem.title ?? ""}`.trim() : problem.title ?? "Error";
  return problem.detail ? `${head}: ${problem.detail}` : head;
}

/**
 * Follows an SSE stream, parsing each named event's JSON data. EventSource reconnects by itself
 * (sending Last-Event-ID); `onState` tells the page whether the stream is up.
 * @param {string} path
 * @param {Record<string, (data: any, event: MessageEvent) => void>} handlers
 * @param {(state: "connecting" | "open" | "closed") => void} [onState]
 * @returns {EventSource}
 */
export function follow(path, handlers, onState) {
  const source = new EventSource(path);
  onState?.("connecting");
  source.addEventListener("open", () => onState?.("open"));
  source.addEventListener("error", () => onState?.(source.readyState === EventSource.CLOSED ? "closed" : "connecting"));
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => {
      const message = /** @type {MessageEvent} */ (event);
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        data = message.data;
      }
      handler(data, message);
    });
  }
  return source;
}
