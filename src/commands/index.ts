/**
 * The commands subsystem (SPEC §6) as the CLI and the API see it: load a catalogue from the
 * built-ins and a policy, describe it, and run validated attempts through CommandService.
 */
export { loadPolicy, compilePolicy, describeCommands, argsJsonSchema, PolicyError, formatViolation, type CommandDescription, type Violation } from "./policy-loader.ts";
export { CommandService, type Caller, type Execution, type CommandServiceOptions } from "./service.ts";
export { CommandRefused, refusals, type ArgIssue, type CommandRefusalCode } from "./errors.ts";
export { JobManager, JOB_ID_RE, type Job, type JobEvent, type JobInfo, type JobState } from "./jobs.ts";
export { createConcurrencyLimiter, DEFAULT_MAX_CONCURRENT_PER_CLIENT, type ConcurrencyLimiter } from "./concurrency.ts";
export { argIssues, validateArgs, documentedCheck } from "./argv-builder.ts";
export { argsSha256 } from "./args-digest.ts";
export { SpawnError, ELEVATION_PREFIX } from "./executor.ts";
export { builtinCatalogue, deferredCatalogue, FIXED_PATH } from "./catalogue.ts";
export { DENY_RULES } from "./deny-rules.ts";
export type { Catalogue, CommandSpec, ElevateWith, RunResult, ArgValues } from "./types.ts";
