/**
 * Public surface of the commands subsystem (SPEC §6) for the CLI and the API to wire in:
 *   const catalogue = loadPolicy(flags.policy);              // throws PolicyError -> exit 78
 *   app.route("/", commandRoutes({ catalogue, elevateWith, audit, jobs: new JobManager(), limiter: createConcurrencyLimiter() }));
 */
export { loadPolicy, compilePolicy, describeCommands, argsJsonSchema, PolicyError, formatViolation, type CommandDescription, type Violation } from "./policy-loader.ts";
export { commandRoutes, type CommandRoutesOptions } from "./routes.ts";
export { JobManager, type JobInfo, type JobState } from "./jobs.ts";
export { createConcurrencyLimiter, DEFAULT_MAX_CONCURRENT_PER_CLIENT, type ConcurrencyLimiter } from "./concurrency.ts";
export { builtinCatalogue, FIXED_PATH } from "./catalogue.ts";
export { DENY_RULES } from "./deny-rules.ts";
export type { Catalogue, CommandSpec, ElevateWith, RunResult } from "./types.ts";
