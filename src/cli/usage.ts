/**
 * What `icecore help` and `icecore <command> --help` print: only what exists, each command with
 * its own options and exit statuses (SPEC §2).
 */
const EXIT_STATUSES = `exit status: 0 ok, 64 usage, 69 handoff or API failed, 70 internal error,
77 refused to run as root, 78 bad configuration or policy`;

const RUN_OPTIONS = `  --port <n>                 API port on 127.0.0.1 (default 0: a free port)
  --handoff-timeout <dur>    how long the child has to take its bundle (default 5s; 100ms to 10m)
  --cert-ttl <dur>           client certificate lifetime (default 24h; 10s to 30d, short ones for tests)
  --instances <n>            run n copies of the child, each with its own identity (default 1; at most 16)
  --policy <file>            extend or replace the built-in command catalogue
  --elevate-with <how>       none|sudo|pkexec (default none)
  --on-child-exit <what>     exit|restart (default exit)
  --log-format <fmt>         text|json (default text)
  --audit-log <path>         audit trail (default $XDG_STATE_HOME/icecore/audit.jsonl)
  --allow-root               run even as uid 0 (not recommended)
  --browser                  the child is the console in Chromium (icecore connect --browser)
  --headless, --chromium <path>   passed to connect --browser
  --debug                    print stack traces of internal errors
durations: 500ms, 5s, 10m, 24h, 7d (a bare number is seconds)`;

export const HELP: Record<string, string> = {
  run: `usage: icecore run [options] [-- <child> [child args...]]

Mints a CA and certificates in memory, starts the child with --pipe-name <name> added, hands it
its certificate through a one-time endpoint, and serves the Core API until the child ends (or,
with --instances, the last child). Without a child, it runs its own 'icecore connect'.

options:
${RUN_OPTIONS}

exit status: the child's own (with several instances, the last non-zero), 0 after SIGTERM or
SIGINT, 64 usage, 69 handoff failed or Chromium missing (--browser), 70 internal error,
77 refused to run as root, 78 bad configuration or policy`,
  connect: `usage: icecore connect --pipe-name <name> [options]
       icecore connect --pipe-name <name> --browser [--headless] [--chromium <path>] [--json]

The reference child: takes its bundle from the endpoint icecore named, renews its certificate
(a key generated here), checks /v1/health and /v1/info, then runs each --exec command. With
--browser it opens the Core's console in Chromium instead, the certificate held in memory by
this process, and ends when the console is closed.

options:
  --pipe-name <name>         the endpoint (icecore run adds it)
  --timeout <dur>            how long to wait for the endpoint (default 5s)
  --exec <command>           run an allowed command (repeatable)
  --args <json>              the args of the --exec just before it (default {})
  --encrypt                  send bodies encrypted to the server's key (JWE)
  --for <dur>                keep running the --exec list (or health checks) this long
  --json                     print a JSON summary line at the end
  --browser                  open the console in Chromium (Debian's chromium, on PATH)
  --headless                 without a window
  --chromium <path>          this Chromium executable

${EXIT_STATUSES}; otherwise the first non-zero exit code of a command.
With --browser: 0 when the console is closed; 69 when Chromium is missing, cannot start or
dies, the console does not load, or a renewal fails`,
  commands: `usage: icecore commands [--policy <file>]

Prints the allowed commands and their argument schemas (JSON Schema) as JSON.

${EXIT_STATUSES}`,
  policy: `usage: icecore policy check <file>

Checks a policy file: exit 0, or 78 with one line per violated rule.

${EXIT_STATUSES}`,
  service: `usage: icecore service install [run options] [-- <child> [child args...]]
       icecore service uninstall
       icecore service status [--json]

Installs icecore as a per-user service started at login (systemd user unit, launchd agent or
Windows logon task) running 'icecore run --on-child-exit restart' with the given options.

${EXIT_STATUSES}`,
  version: `usage: icecore version [--json]

Prints the version; --json adds the commit, target and Bun version.

${EXIT_STATUSES}`,
};

export const USAGE = `usage:
  icecore run [options] [-- <child> [child args...]]
  icecore connect --pipe-name <name> [--exec <command> [--args <json>]]... [--encrypt] [--for <dur>]
  icecore connect --pipe-name <name> --browser [--headless] [--chromium <path>]
  icecore commands [--policy <file>]
  icecore policy check <file>
  icecore service install|uninstall|status [run options] [-- <child>...]
  icecore version [--json]
  icecore <command> --help

run options:
${RUN_OPTIONS}

${EXIT_STATUSES}`;
