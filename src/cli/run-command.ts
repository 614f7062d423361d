import * as v from "valibot";
import { resolve } from "node:path";
import { parseFlags, splitChildCommand } from "./flags.ts";
import { durationSchema } from "./duration.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { createLogger, type LogFormat } from "../log/logger.ts";
import { defaultAuditPath, openAuditLog, type AuditLog } from "../audit/audit-log.ts";
import { currentPlatform } from "../platform/index.ts";
import { runCore } from "../runtime/core.ts";
import { PortUnavailable } from "../api/server.ts";
import { selfCommand } from "./self-command.ts";
import { ChildSpawnFailed } from "../child/supervisor.ts";
import { existsSync } from "node:fs";

export const RUN_FLAGS = {
  port: { type: "string" },
  "handoff-timeout": { type: "string" },
  "cert-ttl": { type: "string" },
  policy: { type: "string" },
  "elevate-with": { type: "string" },
  "on-child-exit": { type: "string" },
  "log-format": { type: "string" },
  "audit-log": { type: "string" },
  instances: { type: "string" },
  "allow-root": { type: "boolean" },
  debug: { type: "boolean" },
  browser: { type: "boolean" },
  headless: { type: "boolean" },
  chromium: { type: "string" },
} as const;

const SECOND = 1000;
const MINUTE = 60_000;
const DAY = 86_400_000;
export const MAX_INSTANCES = 16;

export const RunFlagsSchema = v.object({
  port: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,5}$/, "must be a port number"), v.transform(Number), v.maxValue(65535, "must be at most 65535")),
    "0",
  ),
  "handoff-timeout": v.optional(durationSchema(100, 10 * MINUTE, "the handoff timeout"), "5s"),
  // SPEC §3: 10 s to 30 days; lifetimes under a minute exist for tests (README).
  "cert-ttl": v.optional(durationSchema(10 * SECOND, 30 * DAY, "the certificate lifetime"), "24h"),
  policy: v.optional(v.pipe(v.string(), v.minLength(1))),
  "elevate-with": v.optional(v.picklist(["none", "sudo", "pkexec"], "must be none, sudo or pkexec"), "none"),
  "on-child-exit": v.optional(v.picklist(["exit", "restart"], "must be exit or restart"), "exit"),
  "log-format": v.optional(v.picklist(["text", "json"], "must be text or json"), "text"),
  "audit-log": v.optional(v.pipe(v.string(), v.minLength(1))),
  instances: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^[0-9]+$/, "must be a whole number"),
      v.transform(Number),
      v.minValue(1, "must be at least 1"),
      v.maxValue(MAX_INSTANCES, `must be at most ${MAX_INSTANCES}`),
    ),
    "1",
  ),
  "allow-root": v.optional(v.boolean(), false),
  debug: v.optional(v.boolean(), false),
  // SPEC §9: the default child becomes `icecore connect --browser [--headless] [--chromium <path>]`.
  browser: v.optional(v.boolean(), false),
  headless: v.optional(v.boolean(), false),
  chromium: v.optional(v.pipe(v.string(), v.minLength(1))),
});

export type RunFlags = v.InferOutput<typeof RunFlagsSchema>;

/** `command` names the CLI command in error lines (`service install` validates run options too). */
export function parseRunFlags(argv: string[], command = "run"): { flags: RunFlags; child: string[] | null } {
  const { own, child } = splitChildCommand(argv);
  const { values } = parseFlags(command, own, RUN_FLAGS, RunFlagsSchema);
  if (child !== null && child.length === 0) throw new CliError(EXIT.USAGE, `${command}: '--' must be followed by the child's command`);
  if (values.browser && child !== null) {
    throw new CliError(EXIT.USAGE, `${command}: --browser chooses the child (icecore connect --browser); give either --browser or a command after '--'`);
  }
  if (!values.browser && (values.headless || values.chromium !== undefined)) {
    throw new CliError(EXIT.USAGE, `${command}: ${values.headless ? "--headless" : "--chromium"} needs --browser`);
  }
  return { flags: values, child };
}

/** SPEC §2/§9: the child `run` starts when none is given after `--`. */
function defaultChild(flags: RunFlags): string[] {
  if (!flags.browser) return selfCommand("connect");
  return selfCommand("connect", "--browser", ...(flags.headless ? ["--headless"] : []), ...(flags.chromium !== undefined ? ["--chromium", flags.chromium] : []));
}

/** SPEC §2: a child that cannot be found is bad configuration (78), found before any key exists. */
export function checkChildCommand(command: string, child: string[]): void {
  if (Bun.which(child[0]!) === null) {
    throw new CliError(EXIT.CONFIG, `${command}: the child ${JSON.stringify(child[0])} was not found or is not executable; check the command after '--'`);
  }
}

function signalled(): Promise<string> {
  return new Promise<string>((resolve) => {
    const on = (signal: NodeJS.Signals) => resolve(signal);
    process.once("SIGTERM", on);
    process.once("SIGINT", on);
  });
}

export async function runCommand(argv: string[]): Promise<number> {
  const { flags, child } = parseRunFlags(argv);
  const platform = currentPlatform();
  if (platform.isPrivileged() && !flags["allow-root"]) {
    const who = platform.os === "win32" ? "as an elevated administrator" : "as root";
    throw new CliError(EXIT.NOPERM, `run: refusing to run ${who}; icecore is a per-user service (use --allow-root to override)`);
  }
  // Configuration errors first, before any key exists (exit 78, every violation named). A policy
  // file is checked (compiled) now; the built-in catalogue, which cannot be wrong, is built
  // after the first handoff (runtime/services.ts), so the commands subsystem stays off the
  // start-up path.
  const catalogue = flags.policy === undefined ? undefined : (await import("./policy-source.ts")).loadCatalogue("run", flags.policy);
  if (flags["elevate-with"] !== "none") {
    const { ELEVATION_PREFIX } = await import("../commands/executor.ts");
    const tool = ELEVATION_PREFIX[flags["elevate-with"]][0]!;
    if (!existsSync(tool)) throw new CliError(EXIT.CONFIG, `run: --elevate-with ${flags["elevate-with"]}: ${tool} is not installed`);
  }
  if (child) checkChildCommand("run", child);
  if (flags.browser) {
    // A missing Chromium is found now, before any key exists, with the line that says how to install it.
    const { findChromium, ChromiumNotFound } = await import("../browser/find-chromium.ts");
    try {
      findChromium(flags.chromium);
    } catch (error) {
      if (error instanceof ChromiumNotFound) throw new CliError(error.status, `run: ${error.message}`);
      throw error;
    }
  }
  // SPEC §7: before any key exists, make this process undumpable and keep files private.
  process.umask(0o077);
  try {
    platform.hardening.harden();
  } catch (error) {
    throw new CliError(EXIT.SOFTWARE, `run: could not harden the process: ${(error as Error).message}`);
  }
  // One line per request, written in groups (every line kept, in order; src/log/logger.ts).
  const logger = createLogger(flags["log-format"] as LogFormat, undefined, { grouped: ["request"] });
  const auditPath = resolve(flags["audit-log"] ?? defaultAuditPath());
  let audit: AuditLog;
  try {
    audit = openAuditLog(auditPath, { onFailure: (event, cause) => logger.event("audit_write_failed", { record: event, cause }) });
  } catch (error) {
    throw new CliError(EXIT.CONFIG, `run: cannot open the audit log ${auditPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const risk = platform.hardening.attachBeforeHardenRisk();
  if (risk) logger.event("warning", { message: `${risk}; see the README, "Security model"` });
  try {
    const outcome = await runCore({
      port: flags.port,
      handoffTimeoutMs: flags["handoff-timeout"],
      certTtlMs: flags["cert-ttl"],
      onChildExit: flags["on-child-exit"],
      instances: flags.instances,
      child: child ?? defaultChild(flags),
      platform,
      ...(catalogue ? { catalogue } : {}),
      elevateWith: flags["elevate-with"],
      logger,
      audit,
      // SPEC §9 the console at GET /: imported when the API is first served, off the start-up path.
      consoleAssets: () => import("../console/assets.ts").then((assets) => assets.CONSOLE_ASSETS),
      interrupted: signalled(),
    });
    if (outcome.kind === "signal") return EXIT.OK;
    if (outcome.handoffFailure !== null) throw new CliError(EXIT.UNAVAILABLE, `run: handoff failed: ${outcome.handoffFailure}`);
    return outcome.status;
  } catch (error) {
    if (error instanceof PortUnavailable) throw new CliError(EXIT.CONFIG, `run: ${error.message}; choose another --port or 0`);
    if (error instanceof ChildSpawnFailed) throw new CliError(EXIT.CONFIG, `run: ${error.message}; check the command after '--'`);
    throw error;
  } finally {
    audit.close();
  }
}
