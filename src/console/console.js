/**
 * The console page (SPEC §9): status, commands with generated forms, results, live jobs with
 * cancel, and the recent audit. Talks to the Core only with same-origin fetch and EventSource;
 * holds no key (the browser child signs its requests).
 */
import { deleteJson, describeProblem, follow, getJson, postJson } from "./api.js";
import { byId, h, replace } from "./element.js";
import { argsFromValues, formModel } from "./form-model.js";
import { renderForm } from "./form-view.js";
import { formatDuration, formatRelative, formatTimestamp, formatUptime } from "./time-format.js";

/**
 * @typedef {{ name: string, description: string, elevated: boolean, long: boolean, available: boolean, unavailable_reason?: string, args: unknown }} CommandInfo
 * @typedef {{ client_id: string, child_id: string, not_after: string, renew_at: string } | null} ClientLease
 *   the calling certificate: the Core fills it in for a signed request, and the browser child signs every request
 * @typedef {{ cert_ttl_ms: number, rotate_at_fraction: number, grace_ms: number }} Rotation
 * @typedef {{ name: string, version: string, platform: string, runtime: string, uptime_ms: number, api_url: string, client: ClientLease, rotation: Rotation }} Info
 * @typedef {{ job_id: string, command: string, state: string, exit_code: number | null, signal: string | null, truncated: boolean, started_at: string, ended_at: string | null, duration_ms: number | null }} JobInfo
 */

const state = {
  /** @type {Info | null} */ info: null,
  /** performance.now() when `info` arrived, so uptime ticks without polling. */
  infoAt: 0,
  /** @type {CommandInfo[]} */ commands: [],
  /** @type {string | null} */ selected: null,
  jobCount: 0,
};

// ---------------------------------------------------------------- status

async function loadInfo() {
  const result = await getJson("/v1/info");
  if (!result.ok) {
    showBanner(`Status unavailable: ${describeProblem(result.problem)}`);
    return;
  }
  state.info = result.body;
  state.infoAt = performance.now();
  renderStatus();
  markStatusShown();
}

/**
 * Once: `<html data-status="ready">` and a performance mark on the frame after the status was
 * first drawn (the browser child waits for it and reports when the console was usable).
 */
function markStatusShown() {
  const root = document.documentElement;
  if (root.dataset.status === "ready") return;
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      performance.mark("icecore-status-shown");
      root.dataset.status = "ready";
    }),
  );
}

function renderStatus() {
  const info = state.info;
  if (!info) return;
  const now = Date.now();
  byId("version").textContent = `v${info.version}`;
  byId("uptime").textContent = formatUptime(info.uptime_ms + (performance.now() - state.infoAt));
  byId("platform").textContent = `${info.platform} · ${info.runtime}`;
  const lease = info.client;
  setTimed("cert-expiry", lease?.not_after, now);
  setTimed("cert-renewal", lease?.renew_at, now);
  const rotation = info.rotation;
  if (rotation) {
    byId("cert-renewal").title += ` (at ${Math.round(rotation.rotate_at_fraction * 100)}% of a ${formatDuration(rotation.cert_ttl_ms)} lifetime)`;
  }
  const clientId = lease?.client_id;
  const clientCell = byId("client-id");
  clientCell.textContent = clientId ? `${clientId.slice(0, 12)}…` : "—";
  clientCell.title = clientId ? `client_id ${clientId}\nchild_id ${lease?.child_id}` : "unsigned request: no certificate to show";
}

/**
 * @param {string} id
 * @param {string | null | undefined} when
 * @param {number} now
 */
function setTimed(id, when, now) {
  const cell = byId(id);
  if (!when) {
    cell.textContent = "—";
    cell.title = "";
    return;
  }
  replace(cell, formatRelative(when, now));
  cell.title = formatTimestamp(when);
  const soon = new Date(when).getTime() - now < 10 * 60_000;
  cell.classList.toggle("soon", id === "cert-expiry" && soon);
}

/** @param {string} text */
function showBanner(text) {
  const banner = byId("banner");
  banner.textContent = text;
  banner.hidden = false;
}

function followCoreEvents() {
  const pill = byId("connection");
  const labels = { connecting: "Events: connecting…", open: "Events: live", closed: "Events: closed" };
  follow(
    "/v1/events",
    {
      // The browser child renews on `rotate`; the old certificate is then retired ("superseded")
      // at the new one's first signature. Either way the status is read again.
      rotate: () => void loadInfo(),
      revoked: (data) => {
        if (data?.reason === "superseded") void loadInfo();
        else showBanner(`This console's certificate was revoked${data?.reason ? ` (${data.reason})` : ""}. Restart the console.`);
      },
      shutdown: (data) => showBanner(`The Core is shutting down${data?.reason ? ` (${data.reason})` : ""}.`),
    },
    (s) => {
      pill.dataset.state = s;
      pill.textContent = labels[s];
    },
  );
}

// ---------------------------------------------------------------- commands

async function loadCommands() {
  const result = await getJson("/v1/commands");
  if (!result.ok) {
    replace(byId("command-list"), h("li", { class: "muted" }, describeProblem(result.problem)));
    return;
  }
  state.commands = Array.isArray(result.body?.commands) ? result.body.commands : [];
  renderCommandList();
}

function renderCommandList() {
  const filter = /** @type {HTMLInputElement} */ (byId("command-filter")).value.trim().toLowerCase();
  const shown = state.commands.filter((c) => !filter || c.name.toLowerCase().includes(filter) || c.description.toLowerCase().includes(filter));
  byId("command-count").textContent = filter ? `${shown.length} of ${state.commands.length}` : String(state.commands.length);
  replace(
    byId("command-list"),
    shown.length === 0 ? h("li", { class: "muted empty" }, "No command matches.") : null,
    ...shown.map((command) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: `command${command.name === state.selected ? " selected" : ""}${command.available ? "" : " unavailable"}`,
            "aria-current": command.name === state.selected ? "true" : null,
            "data-command": command.name,
            onclick: () => selectCommand(command.name),
          },
          h("span", { class: "command-name" }, command.name),
          h("span", { class: "command-desc" }, command.description),
          h("span", { class: "badges" }, commandBadges(command)),
        ),
      ),
    ),
  );
}

/** @param {CommandInfo} command */
function commandBadges(command) {
  return [
    command.long ? h("span", { class: "badge info" }, "job") : null,
    command.elevated ? h("span", { class: "badge warn" }, "elevated") : null,
    command.available ? null : h("span", { class: "badge muted-badge", title: command.unavailable_reason ?? "" }, "unavailable"),
  ];
}

/** @param {string} name */
function selectCommand(name) {
  const command = state.commands.find((c) => c.name === name);
  if (!command) return;
  state.selected = name;
  renderCommandList();
  const model = formModel(command.args);
  const form = renderForm(model, `arg-${name.replaceAll(".", "-")}`);
  const runButton = h("button", { type: "submit", class: "primary", disabled: !command.available }, command.long ? "Start job" : "Run");
  const formError = h("div", { class: "form-error", role: "alert", hidden: true });
  const formElement = h(
    "form",
    {
      class: "command-form",
      novalidate: true,
      "aria-labelledby": "run-title",
      onsubmit: (/** @type {SubmitEvent} */ event) => {
        event.preventDefault();
        void runCommand(command, model, form, runButton, formError);
      },
    },
    form.element,
    formError,
    h("div", { class: "actions" }, runButton, command.available ? null : h("span", { class: "muted" }, command.unavailable_reason ?? "unavailable on this machine")),
  );
  replace(
    byId("command-detail"),
    h("div", { class: "detail-head" }, h("h2", { id: "run-title" }, command.name), h("span", { class: "badges" }, commandBadges(command))),
    h("p", { class: "description" }, command.description),
    formElement,
  );
  const first = formElement.querySelector("input, select");
  if (first instanceof HTMLElement) first.focus();
  else runButton.focus();
}

/**
 * @param {CommandInfo} command
 * @param {import("./form-model.js").FormModel} model
 * @param {import("./form-view.js").FormView} form
 * @param {HTMLButtonElement} runButton
 * @param {HTMLElement} formError
 */
async function runCommand(command, model, form, runButton, formError) {
  form.clearErrors();
  formError.hidden = true;
  runButton.disabled = true;
  runButton.classList.add("busy");
  const result = byId("result");
  replace(result, h("p", { class: "muted" }, `Running ${command.name}…`));
  try {
    const args = argsFromValues(model, form.read());
    const response = await postJson(`/v1/commands/${encodeURIComponent(command.name)}`, { args });
    if (response.ok && response.status === 202) {
      replace(result, h("p", { class: "muted" }, `${command.name} started as a job; follow it under Jobs.`));
      startJob(response.body.job_id, command.name);
    } else if (response.ok) {
      renderResult(command.name, response.body);
    } else {
      const problem = response.problem;
      const general = problem.issues ? form.showIssues(problem.issues) : [];
      replace(result);
      formError.hidden = false;
      replace(formError, h("strong", {}, describeProblem(problem)), ...general.map((g) => h("div", {}, g)));
    }
  } finally {
    runButton.disabled = !command.available;
    runButton.classList.remove("busy");
    void loadAudit();
  }
}

/**
 * @param {string} name
 * @param {{ exit_code: number | null, stdout: string, stderr: string, duration_ms: number, truncated: boolean, timed_out?: boolean, signal?: string | null }} run
 */
function renderResult(name, run) {
  const ok = run.exit_code === 0;
  replace(
    byId("result"),
    h(
      "div",
      { class: "result-head" },
      h("h3", {}, `Result: ${name}`),
      h("span", { class: `badge ${ok ? "ok" : "bad"}`, "data-exit-code": run.exit_code ?? "" }, run.exit_code === null ? `signal ${run.signal ?? "?"}` : `exit ${run.exit_code}`),
      h("span", { class: "badge plain" }, formatDuration(run.duration_ms)),
      run.truncated ? h("span", { class: "badge warn" }, "truncated") : null,
      run.timed_out ? h("span", { class: "badge bad" }, "timed out") : null,
    ),
    outputBlock("stdout", run.stdout),
    run.stderr ? outputBlock("stderr", run.stderr) : null,
  );
}

/**
 * @param {"stdout" | "stderr"} stream
 * @param {string} text
 */
function outputBlock(stream, text) {
  const pretty = prettyJson(text);
  return h(
    "figure",
    { class: `output ${stream}` },
    h("figcaption", {}, stream, pretty !== null ? h("span", { class: "caption-note" }, " · JSON, indented for reading") : null),
    h("pre", { tabindex: 0 }, text === "" ? h("span", { class: "muted" }, "(empty)") : pretty ?? text),
  );
}

/**
 * One line of JSON (system.info prints that) is shown indented; anything else as it came.
 * @param {string} text
 * @returns {string | null}
 */
function prettyJson(text) {
  const trimmed = text.trim();
  if (!/^[[{]/.test(trimmed) || trimmed.includes("\n")) return null;
  try {
    return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- jobs

/**
 * A job card that appends each output line as its SSE event arrives, with a cancel button.
 * @param {string} jobId
 * @param {string} commandName
 */
function startJob(jobId, commandName) {
  const jobs = byId("jobs");
  jobs.querySelector(":scope > p.muted")?.remove();
  state.jobCount++;
  byId("job-count").textContent = String(state.jobCount);
  const started = performance.now();
  const stateBadge = h("span", { class: "badge info job-state" }, "running");
  const timing = h("span", { class: "badge plain" }, "0 s");
  const pre = h("pre", { class: "job-output", tabindex: 0, "aria-label": `${commandName} output` });
  const notes = h("div", { class: "job-notes muted" });
  const cancel = h("button", { type: "button", class: "small danger" }, "Cancel");
  const card = h(
    "article",
    { class: "job", "data-job-id": jobId, "aria-label": `job ${commandName}` },
    h("div", { class: "job-head" }, h("strong", {}, commandName), h("code", { class: "job-id", title: jobId }, jobId.slice(0, 8)), stateBadge, timing, cancel),
    pre,
    notes,
  );
  jobs.prepend(card);
  const tick = setInterval(() => (timing.textContent = formatDuration(performance.now() - started)), 1000);
  let finished = false;

  /** @param {string} text @param {string} [cls] */
  const appendLine = (text, cls) => {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(cls ? h("span", { class: cls }, text + "\n") : text + "\n");
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  };

  /** @param {{ state: string, exit_code: number | null, signal?: string | null, truncated?: boolean }} end */
  const finish = (end) => {
    if (finished) return;
    finished = true;
    clearInterval(tick);
    source.close();
    cancel.remove();
    stateBadge.textContent = end.state + (end.exit_code !== null && end.exit_code !== undefined ? ` · exit ${end.exit_code}` : end.signal ? ` · ${end.signal}` : "");
    stateBadge.className = `badge job-state ${end.state === "succeeded" ? "ok" : end.state === "cancelled" ? "warn" : "bad"}`;
    if (end.truncated) notes.append(h("span", { class: "badge warn" }, "truncated"));
    void showJobTimes();
    void loadAudit();
  };

  /** The Core's own timings (started_at, ended_at, duration_ms) replace the local clock. */
  const showJobTimes = async () => {
    const info = await getJson(`/v1/jobs/${encodeURIComponent(jobId)}`);
    if (!info.ok) return;
    /** @type {JobInfo} */
    const job = info.body;
    if (typeof job.duration_ms === "number") timing.textContent = formatDuration(job.duration_ms);
    timing.title = `started ${formatTimestamp(job.started_at)}${job.ended_at ? `, ended ${formatTimestamp(job.ended_at)}` : ""}`;
  };

  const source = follow(`/v1/jobs/${encodeURIComponent(jobId)}/events`, {
    output: (data) => appendLine(String(data?.line ?? ""), data?.stream === "stderr" ? "stderr-line" : undefined),
    progress: (data) => {
      notes.textContent = String(data?.message ?? "");
    },
    dropped: (data) => appendLine(`[${data?.count ?? "some"} lines dropped: the job outran its backlog]`, "note-line"),
    exit: (data) => finish(data),
  });

  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    cancel.textContent = "Cancelling…";
    const response = await deleteJson(`/v1/jobs/${encodeURIComponent(jobId)}`);
    if (!response.ok) {
      cancel.disabled = false;
      cancel.textContent = "Cancel";
      notes.textContent = describeProblem(response.problem);
    } else if (response.status === 200) {
      finish(response.body);
    }
    // 202: the exit event brings the final state.
  });
}

// ---------------------------------------------------------------- audit

let auditLoading = false;
async function loadAudit() {
  if (auditLoading) return;
  auditLoading = true;
  try {
    const result = await getJson("/v1/audit?limit=50");
    const note = byId("audit-note");
    if (!result.ok) {
      note.textContent = describeProblem(result.problem);
      return;
    }
    const records = Array.isArray(result.body?.records) ? result.body.records : [];
    // This console's records by its child_id: its client_id changes with every renewal.
    const own = state.info?.client?.child_id;
    note.textContent = records.length ? `${records.length} most recent records, newest first.` : "No audit records yet.";
    replace(byId("audit-rows"), ...records.map((/** @type {AuditRecord} */ r) => auditRow(r, own)));
  } finally {
    auditLoading = false;
  }
}

/**
 * @typedef {{ time: string, event: string, command?: string, outcome?: string, status?: number, code?: string,
 *   exit_code?: number | null, duration_ms?: number | null, client_id?: string | null, child_id?: string | null, job_id?: string, reason?: string,
 *   count?: number, uid?: number, jobs_cancelled?: number }} AuditRecord
 */

/** What a person reads first: commands and jobs by what happened, Core events by name. */
const EVENT_LABELS = /** @type {Record<string, string>} */ ({
  command: "attempt",
  command_result: "result",
  job_finished: "job end",
  job_cancel: "cancel",
  handoff_peer_rejected: "peer refused",
  handoff_failed: "handoff failed",
  child_revoked: "child revoked",
  shutdown: "shutdown",
});

const REFUSED_EVENTS = new Set(["handoff_peer_rejected", "handoff_failed"]);

/**
 * @param {AuditRecord} r
 * @param {string | undefined} own this console's child_id
 */
function auditRow(r, own) {
  const mine = own !== undefined && r.child_id === own;
  const refused = r.outcome === "refused" || (typeof r.status === "number" && r.status >= 400) || REFUSED_EVENTS.has(r.event);
  return h(
    "tr",
    { class: refused ? "refused" : null, "data-event": r.event },
    h("td", { class: "nowrap" }, formatTimestamp(r.time)),
    h("td", { title: r.event }, EVENT_LABELS[r.event] ?? r.event),
    h("td", {}, r.command ? h("code", {}, r.command) : "—"),
    h("td", {}, r.outcome ?? "—"),
    h("td", { class: "num" }, r.exit_code ?? "—"),
    h("td", { class: "num nowrap" }, typeof r.duration_ms === "number" ? formatDuration(r.duration_ms) : "—"),
    h("td", { class: "detail" }, auditDetail(r)),
    h("td", { title: r.client_id ? `client_id ${r.client_id}` : "" }, r.client_id ? h("code", { class: mine ? "own" : null }, `${r.client_id.slice(0, 8)}${mine ? " (this console)" : ""}`) : "—"),
  );
}

/**
 * The fields that explain a record: an HTTP refusal's status and code, a reason, a count.
 * @param {AuditRecord} r
 */
function auditDetail(r) {
  const parts = [];
  if (typeof r.status === "number") parts.push(String(r.status));
  if (r.code) parts.push(r.code);
  if (r.reason) parts.push(r.reason);
  if (typeof r.count === "number" && r.count > 1) parts.push(`×${r.count}`);
  if (typeof r.uid === "number") parts.push(`uid ${r.uid}`);
  if (typeof r.jobs_cancelled === "number" && r.jobs_cancelled > 0) parts.push(`${r.jobs_cancelled} job${r.jobs_cancelled === 1 ? "" : "s"} cancelled`);
  if (r.job_id) parts.push(`job ${r.job_id.slice(0, 8)}`);
  return parts.length > 0 ? parts.join(" · ") : "—";
}

// ---------------------------------------------------------------- start

function start() {
  byId("command-filter").addEventListener("input", renderCommandList);
  byId("audit-refresh").addEventListener("click", () => void loadAudit());
  setInterval(renderStatus, 1000);
  followCoreEvents();
  void Promise.all([loadInfo(), loadCommands()]).then(loadAudit);
}

start();
