import * as v from "valibot";
import { resolve } from "node:path";
import { parseFlags, splitChildCommand } from "./flags.ts";
import { durationSchema } from "./duration.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { createLogger } from "../log/logger.ts";
import { defaultAuditPath, openAuditLog, type AuditLog } from "../audit/audit-log.ts";
import { currentPlatform } from "../platform/index.ts";
import { runCore } from "../runtime/core.ts";
import { PortUnavailable } from "../api/server.ts";
import { selfCommand } from "./self-command.ts";
import { ChildSpawnFailed } from "../child/supervisor.ts";
import { loadCatalogue } from "./policy-source.ts";
import { ELEVATION_PREFIX } from "../commands/executor.ts";
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
  "allow-root": { type: "boolean" },
  debug: { type: "boolean" },
} as const;

const MINUTE = 60_000;
const DAY = 86_400_000;

export const RunFlagsSchema = v.object({
  port: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,5}$/, "must be a port number"), v.transform(Number), v.maxValue(65535, "must be at most 65535")),
    "0",
  ),
  "handoff-timeout": v.optional(durationSchema(100, 10 * MINUTE, "the handoff timeout"), "5s"),
  "cert-ttl": v.optional(durationSchema(MINUTE, 30 * DAY, "the certificate lifetime"), "24h"),
  policy: v.optional(v.pipe(v.string(), v.minLength(1))),
  "elevate-with": v.optional(v.picklist(["none", "sudo", "pkexec"], "must be none, sudo or pkexec"), "none"),
  "on-child-exit": v.optional(v.picklist(["exit", "restart"], "must be exit or restart"), "exit"),
  "log-format": v.optional(v.picklist(["text", "json"], "must be text or json"), "text"),
  "audit-log": v.optional(v.pipe(v.string(), v.minLength(1))),
  "allow-root": v.optional(v.boolean(), false),
  debug: v.optional(v.boolean(), false),
});

export type RunFlags = v.InferOutput<typeof RunFlagsSchema>;

/** `command` names the CLI command in error lines (`service install` validates run options too). */
export function parseRunFlags(argv: string[], command = "run"): { flags: RunFlags; child: string[] | null } {
  const { own, child } = splitChildCommand(argv);
  const { values } = parseFlags(command, own, RUN_FLAGS, RunFlagsSchema);
  if (child !== null && child.length === 0) throw new CliError(EXIT.USAGE, `${command}: '--' must be followed by the child's command`);
  return { flags: values, child };
}

export async function runCommand(argv: string[]): Promise<number> {
  const { flags, child } = parseRunFlags(argv);
  if (process.getuid?.() === 0 && !flags["allow-root"]) {
    throw new CliError(EXIT.NOPERM, "run: refusing to run as root; icecore is a per-user service (use --allow-root to override)");
  }
  // Configuration errors first, before any key exists (exit 78, every violation named).
  const catalogue = loadCatalogue("run", flags.policy);
  if (flags["elevate-with"] !== "none") {
    const tool = ELEVATION_PREFIX[flags["elevate-with"]][0]!;
    if (!existsSync(tool)) throw new CliError(EXIT.CONFIG, `run: --elevate-with ${flags["elevate-with"]}: ${tool} is not installed`);
  }
  const platform = currentPlatform();
  // SPEC §7: before any key exists, make this process undumpable and keep files private.
  process.umask(0o077);
  try {
    platform.hardenProcess();
  } catch (error) {
    throw new CliError(EXIT.SOFTWARE, `run: could not harden the process: ${(error as Error).message}`);
  }
  const logger = createLogger(flags["log-format"]);
  let audit: AuditLog;
  const auditPath = resolve(flags["audit-log"] ?? defaultAuditPath());
  try {
    audit = openAuditLog(auditPath);
  } catch (error) {
    throw new CliError(EXIT.CONFIG, `run: cannot open the audit log ${auditPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    const outcome = await runCore({
      port: flags.port,
      handoffTimeoutMs: flags["handoff-timeout"],
      certTtlMs: flags["cert-ttl"],
      onChildExit: flags["on-child-exit"],
      child: child ?? selfCommand("connect"),
      platform,
      catalogue,
      elevateWith: flags["elevate-with"],
      logger,
      audit,
    });
    switch (outcome.kind) {
      case "child_exited":
        return outcome.exit.status;
      case "signal":
        return EXIT.OK;
      case "handoff_failed":
        throw new CliError(EXIT.UNAVAILABLE, `run: handoff failed: ${outcome.reason}`);
    }
  } catch (error) {
    if (error instanceof PortUnavailable) throw new CliError(EXIT.CONFIG, `run: ${error.message}; choose another --port or 0`);
    if (error instanceof ChildSpawnFailed) throw new CliError(EXIT.CONFIG, `run: ${error.message}; check the command after '--'`);
    throw error;
  } finally {
    audit.close();
  }
}
