export const USAGE = `usage:
  icecore run [options] [-- <child> [child args...]]
  icecore connect --pipe-name <name> [--exec <command> [--args <json>]] [--json]
  icecore connect --pipe-name <name> --browser [--headless] [--chromium <path>] [--json]
  icecore commands [--policy <file>]
  icecore policy check <file>
  icecore service install|uninstall|status [run options] [-- <child>...]
  icecore version [--json]

run options:
  --port <n>                 API port on 127.0.0.1 (default 0: a free port)
  --handoff-timeout <dur>    how long the child has to take its bundle (default 5s)
  --cert-ttl <dur>           client certificate lifetime (default 24h)
  --policy <file>            extend or replace the built-in command catalogue
  --elevate-with <how>       none|sudo|pkexec (default none)
  --on-child-exit <what>     exit|restart (default exit)
  --log-format <fmt>         text|json (default text)
  --audit-log <path>         audit trail (default $XDG_STATE_HOME/icecore/audit.jsonl)
  --allow-root               run even as uid 0 (not recommended)
  --browser                  the child is the console in Chromium (connect --browser);
                             with --headless, --chromium <path> as connect takes them
  --debug                    print stack traces of internal errors

exit status: the child's, 0 after SIGTERM/SIGINT, 64 usage, 69 handoff failed or
Chromium missing, 70 internal error, 77 refused to run as root, 78 bad configuration or policy;
connect --browser: 0 when the console is closed, 69 when Chromium is missing, cannot
start or dies, the console does not load, or a renewal fails`;
