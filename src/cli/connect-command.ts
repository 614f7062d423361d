/**
 * `icecore connect`: the reference child (SPEC §2). It takes its bundle, renews its certificate at
 * once (so the key that crossed the endpoint is retired within moments) and again whenever the
 * Core announces `rotate`, proves the API works over mTLS, runs each `--exec` command as a signed
 * POST (encrypted with `--encrypt`), follows a long command's job to its end, and with `--for`
 * keeps doing so for that long. It prints a transcript; `--json` adds a summary line.
 *
 * With `--browser` (SPEC §9) it is the browser child instead: it opens the Core's console in the
 * system Chromium (src/browser/browser-child.ts) and lives as long as that browser does.
 * Exit status: 0 when the console is closed (its page or window, Chromium ending cleanly, or
 * SIGTERM/SIGINT); 69 when Chromium is missing or cannot start, dies (killed, crashed), the
 * console does not load, or a renewal fails.
 */
import * as v from "valibot";
import { parseFlags } from "./flags.ts";
import { durationSchema, formatDuration } from "./duration.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { HandoffFailed, receiveBundle } from "../client/receive-bundle.ts";
import { createCoreClient, type CoreClient } from "../client/core-client.ts";
import { readEvents } from "../client/sse.ts";
import { COMMAND_NAME_RE } from "../commands/policy-schema.ts";
import type { Bundle } from "../handoff/bundle.ts";

export const CONNECT_FLAGS = {
  "pipe-name": { type: "string" },
  timeout: { type: "string" },
  exec: { type: "string", multiple: true },
  args: { type: "string", multiple: true },
  encrypt: { type: "boolean" },
  for: { type: "string" },
  json: { type: "boolean" },
  browser: { type: "boolean" },
  headless: { type: "boolean" },
  chromium: { type: "string" },
} as const;


const ConnectFlagsSchema = v.object({
  "pipe-name": v.pipe(v.string("is required: icecore run passes it"), v.minLength(1, "is required: icecore run passes it")),
  timeout: v.optional(durationSchema(100, 600_000, "the handoff timeout"), "5s"),
  exec: v.optional(v.array(v.pipe(v.string(), v.regex(COMMAND_NAME_RE, "must be a command name such as disk.list"))), []),
  args: v.optional(v.array(v.string()), []),
  encrypt: v.optional(v.boolean(), false),
  for: v.optional(durationSchema(0, 7 * 86_400_000, "--for")),
  json: v.optional(v.boolean(), false),
  browser: v.optional(v.boolean(), false),
  headless: v.optional(v.boolean(), false),
  chromium: v.optional(v.pipe(v.string(), v.minLength(1))),
});

type ConnectFlags = v.InferOutput<typeof ConnectFlagsSchema>;

/** How long the console may take to show the Core's status before the child gives up (busy machines are slow). */
const CONSOLE_READY_TIMEOUT_MS = 60_000;

interface Step {
  name: string;
  args: Record<string, unknown>;
}

/** Each `--args` belongs to the `--exec` just before it (default `{}`). */
function stepsOf(order: { name: string; value: string | undefined }[]): Step[] {
  const steps: Step[] = [];
  let argsGiven = false;
  for (const { name, value } of order) {
    if (name === "exec") {
      steps.push({ name: value!, args: {} });
      argsGiven = false;
    } else if (name === "args") {
      if (steps.length === 0) throw new CliError(EXIT.USAGE, "connect: --args must follow the --exec it belongs to");
      if (argsGiven) throw new CliError(EXIT.USAGE, `connect: --exec ${steps.at(-1)!.name} has two --args`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(value!);
      } catch {
        parsed = undefined;
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new CliError(EXIT.USAGE, `connect: --args for ${steps.at(-1)!.name} must be a JSON object, e.g. '{"query":"vim"}'`);
      }
      steps.at(-1)!.args = parsed as Record<string, unknown>;
      argsGiven = true;
    }
  }
  return steps;
}

interface Tally {
  requests: number;
  failed: number;
  renewals: number;
  clientIds: string[];
}

function say(text: string) {
  process.stdout.write(text + "\n");
}

async function checkedJson(response: { status: number; json(): Promise<unknown> }, what: string, tally: Tally): Promise<Record<string, unknown>> {
  tally.requests++;
  const body = (await response.json().catch(() => null)) as Record<string, unknown> | null;
  if (response.status >= 400) {
    tally.failed++;
    throw new CliError(EXIT.UNAVAILABLE, `connect: ${what} answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return body ?? {};
}

/** SPEC §5 POST /v1/commands/{name}; a `long` command's job is followed over SSE to its end. */
async function execute(client: CoreClient, step: Step, encrypt: boolean, tally: Tally): Promise<number> {
  const api = encrypt ? client.encrypted : client.api;
  const response = await api.v1.commands[":name"].$post({ param: { name: step.name }, json: { args: step.args } });
  const body = await checkedJson(response, `POST /v1/commands/${step.name}`, tally);
  if (response.status === 202) {
    const jobId = String(body.job_id);
    say(`  POST /v1/commands/${step.name} -> 202 job ${jobId}`);
    return followJob(client, jobId, tally);
  }
  const result = body as { exit_code: number | null; stdout: string; stderr: string; duration_ms: number; truncated: boolean };
  say(`  POST /v1/commands/${step.name} -> 200 exit ${result.exit_code} in ${result.duration_ms} ms${result.truncated ? " (output truncated)" : ""}`);
  for (const text of result.stdout.split("\n").filter(Boolean)) say(`    | ${text}`);
  for (const text of result.stderr.split("\n").filter(Boolean)) say(`    ! ${text}`);
  return result.exit_code ?? 1;
}

async function followJob(client: CoreClient, jobId: string, tally: Tally): Promise<number> {
  const response = await client.api.v1.jobs[":id"].events.$get({ param: { id: jobId } });
  tally.requests++;
  if (response.status !== 200) {
    tally.failed++;
    throw new CliError(EXIT.UNAVAILABLE, `connect: job ${jobId}'s events answered ${response.status}`);
  }
  for await (const event of readEvents(response)) {
    const data = JSON.parse(event.data) as { stream?: string; line?: string; exit_code?: number | null; state?: string };
    if (event.event === "output") say(`    ${data.stream === "stderr" ? "!" : "|"} ${data.line}`);
    if (event.event === "exit") {
      say(`  job ${jobId} ${data.state} exit ${data.exit_code}`);
      return data.exit_code ?? 1;
    }
  }
  throw new CliError(EXIT.UNAVAILABLE, `connect: job ${jobId}'s event stream ended without an exit event`);
}

/** `--browser` goes with the browser's own flags only; they mean nothing without it. */
function checkBrowserFlags(values: ConnectFlags, steps: Step[]): void {
  if (values.browser) {
    const clash = steps.length > 0 ? "--exec" : values.for !== undefined ? "--for" : values.encrypt ? "--encrypt" : null;
    if (clash) throw new CliError(EXIT.USAGE, `connect: ${clash} cannot be combined with --browser (the console runs commands from the page)`);
  } else {
    const stray = values.headless ? "--headless" : values.chromium !== undefined ? "--chromium" : null;
    if (stray) throw new CliError(EXIT.USAGE, `connect: ${stray} needs --browser`);
  }
}

export async function connectCommand(argv: string[]): Promise<number> {
  const { values, order } = parseFlags("connect", argv, CONNECT_FLAGS, ConnectFlagsSchema);
  const steps = stepsOf(order);
  checkBrowserFlags(values, steps);
  // Before the bundle: a child that cannot show the console should not take a key.
  const chromium = values.browser ? await findBrowser(values.chromium) : null;
  const started = performance.now();
  let bundle;
  try {
    // receiveBundle makes this process undumpable before the key arrives (SPEC §7).
    bundle = await receiveBundle(values["pipe-name"], { timeoutMs: values.timeout });
  } catch (error) {
    if (error instanceof HandoffFailed) throw new CliError(EXIT.UNAVAILABLE, `connect: ${error.message}`);
    throw error;
  }
  say(`icecore connect: bundle received in ${(performance.now() - started).toFixed(1)} ms`);
  say(`  client_id ${bundle.client_id}, certificate valid until ${bundle.not_after}`);
  say(`  api ${bundle.api_url} (server verified against the bundle's CA only)`);
  const client = await createCoreClient(bundle);
  if (chromium !== null) return browserChild(client, bundle, { chromiumPath: chromium, headless: values.headless, json: values.json });
  const tally: Tally = { requests: 0, failed: 0, renewals: 0, clientIds: [bundle.client_id] };
  let renewalError: Error | null = null;
  const renewal = client.startRenewal({
    onRenewed: (clientId) => {
      tally.renewals++;
      tally.clientIds.push(clientId);
      say(`  renewed: client_id ${clientId} (a key generated here; the previous one is retired)`);
    },
    onError: (error) => (renewalError = error),
  });
  let status: number = EXIT.OK;
  try {
    const health = await checkedJson(await client.api.v1.health.$get(), "GET /v1/health", tally);
    say(`  GET /v1/health -> 200 ${JSON.stringify(health)}`);
    const info = await checkedJson(await client.api.v1.info.$get(), "GET /v1/info", tally);
    say(`  GET /v1/info -> 200 ${JSON.stringify(info)}`);
    const until = values.for === undefined ? null : performance.now() + values.for;
    if (until !== null) say(`  running ${steps.length ? steps.map((s) => s.name).join(", ") : "GET /v1/health"} for ${formatDuration(values.for!)}`);
    do {
      for (const step of steps) status = (await execute(client, step, values.encrypt, tally)) || status;
      if (until !== null && steps.length === 0) await checkedJson(await client.api.v1.health.$get(), "GET /v1/health", tally);
      if (renewalError) throw new CliError(EXIT.UNAVAILABLE, `connect: renewing the certificate failed: ${(renewalError as Error).message}`);
    } while (until !== null && performance.now() < until);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(EXIT.UNAVAILABLE, `connect: the Core API at ${bundle.api_url} failed: ${(error as Error).message}`);
  } finally {
    renewal.stop();
    await renewal.done;
  }
  say("icecore connect: done");
  if (values.json) process.stdout.write(JSON.stringify({ summary: { ...tally, status } }) + "\n");
  return status;
}

async function findBrowser(flag: string | undefined): Promise<string> {
  const { findChromium, ChromiumNotFound } = await import("../browser/find-chromium.ts");
  try {
    return findChromium(flag);
  } catch (error) {
    if (error instanceof ChromiumNotFound) throw new CliError(error.status, `connect: ${error.message}`);
    throw error;
  }
}

/** A window needs a display: on Linux without X11 or Wayland, Chromium runs headless (and says so). */
function hasDisplay(): boolean {
  return process.platform !== "linux" || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

const CLOSED: Record<string, string> = {
  page_closed: "the console page was closed",
  browser_closed: "Chromium was closed",
  shutdown: "asked to stop",
};

/** SPEC §9: the browser child. Lives as long as its Chromium; see the header for its exit statuses. */
async function browserChild(client: CoreClient, bundle: Bundle, opts: { chromiumPath: string; headless: boolean; json: boolean }): Promise<number> {
  const { startBrowserChild, RenewalFailed } = await import("../browser/browser-child.ts");
  let headless = opts.headless;
  if (!headless && !hasDisplay()) {
    headless = true;
    say("  no display ($DISPLAY and $WAYLAND_DISPLAY are unset): Chromium runs headless");
  }
  // Chromium's sandbox needs an unprivileged user; as root (npm start on a fresh machine) it cannot start with it.
  const sandbox = process.getuid?.() !== 0;
  const renewals: string[] = [];
  let child: Awaited<ReturnType<typeof startBrowserChild>>;
  try {
    child = await startBrowserChild(client, bundle, {
      chromiumPath: opts.chromiumPath,
      headless,
      sandbox,
      onRenewed: (identity) => {
        renewals.push(identity.clientId);
        say(`  renewed: client_id ${identity.clientId} (a key generated here; the previous one is retired)`);
      },
    });
  } catch (error) {
    if (error instanceof RenewalFailed) throw new CliError(EXIT.UNAVAILABLE, `connect: ${error.message}`);
    throw new CliError(EXIT.UNAVAILABLE, `connect: Chromium (${opts.chromiumPath}) could not open the console: ${firstLine(error)}`);
  }
  const stop = () => void child.stop();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const { browser } = child;
  say(`  chromium ${opts.chromiumPath} (pid ${browser.browserPid}, ${headless ? "headless" : "window"}, sandbox ${sandbox ? "on" : "off: running as root"})`);
  say(`  profile ${browser.profileDir} (new, private, removed on exit)`);
  const ready = await Promise.race([child.ready(CONSOLE_READY_TIMEOUT_MS).catch((error: unknown) => error as Error), child.ended]);
  if (ready instanceof Error) {
    await child.stop();
    throw new CliError(EXIT.UNAVAILABLE, `connect: the console at ${bundle.api_url}/ did not show the Core's status: ${firstLine(ready)}`);
  }
  if ("version" in ready) {
    const since = (at: number | null) => (at === null ? "?" : `${Math.round(at - performance.timeOrigin)} ms`);
    say(`  console ready: icecore ${ready.version} at ${bundle.api_url}/ (first paint ${since(ready.firstPaintAt)}, status shown ${since(ready.statusShownAt)} after this process started)`);
    if (opts.json) {
      const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());
      const fields = { version: ready.version, first_paint_at: iso(ready.firstPaintAt), status_shown_at: iso(ready.statusShownAt), started_at: new Date(performance.timeOrigin).toISOString() };
      process.stdout.write(JSON.stringify({ console: { ...fields, browser_pid: browser.browserPid, profile_dir: browser.profileDir } }) + "\n");
    }
  }
  const end = await child.ended;
  process.off("SIGTERM", stop);
  process.off("SIGINT", stop);
  const status: number = end.reason === "browser_died" || end.reason === "renewal_failed" ? EXIT.UNAVAILABLE : EXIT.OK;
  if (opts.json) process.stdout.write(JSON.stringify({ summary: { end: end.reason, renewals: renewals.length, clientIds: [bundle.client_id, ...renewals], status } }) + "\n");
  if (end.reason === "renewal_failed") throw new CliError(status, `connect: ${new RenewalFailed(end.error).message}; the console was closed`);
  if (end.reason === "browser_died") {
    const exit = await browser.browserExit;
    throw new CliError(status, `connect: Chromium ended unexpectedly (${exit.signal ? `signal ${exit.signal}` : `exit ${exit.code}`}); the console was closed`);
  }
  say(`icecore connect: ${CLOSED[end.reason]}; done`);
  return status;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!.trim();
}
