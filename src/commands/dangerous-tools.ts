/**
 * What icecore knows about programs that turn a policy into arbitrary code execution (SPEC §6 deny
 * rules, docs/policy-trust-model.md). This module is data: each class says which program names belong to it,
 * what such a program does that makes it dangerous (printed in the violation line), and, for tools
 * that are fine with the right argv, which of their options execute code. deny-rules.ts decides
 * what to refuse; tool-identity.ts finds out which of these programs an executable really is.
 *
 * The lists are not a sandbox (docs/policy-trust-model.md): the policy author is trusted, and these
 * rules catch the mistakes that hand a caller a shell.
 */

export type ToolKind =
  /** Any argument can be a command. Refused outright. */
  | "shell"
  /** Runs the program named in its arguments (wrappers for time, limits, namespaces, personality...). Refused outright. */
  | "runner"
  | "privilege"
  | "destructive"
  /** ld.so: runs any program named in its arguments. Refused outright. */
  | "loader"
  /** Runs a script; allowed only with a fixed script file first in argv. */
  | "interpreter"
  /** Runs commands as part of what it does (editors, pagers, build tools, database shells). Refused outright. */
  | "code_runner"
  /** Its first operand is a program (awk, sed): that operand must be a literal. */
  | "program_text"
  /** Fine with a fixed argv, but some options execute code: no caller-chosen options, no param as such an option's value. */
  | "code_options";

export interface ToolClass {
  readonly kind: ToolKind;
  /** Completes "executable X is …": what the program is and why that is arbitrary code. */
  readonly what: string;
  readonly names?: readonly string[];
  readonly patterns?: readonly RegExp[];
  /** Options whose VALUE is code, a command, or a file/library/config that runs code. */
  readonly codeOptions?: readonly string[];
  /** program_text: options that take a separate value (so the program operand can be found). */
  readonly valueOptions?: readonly string[];
  /** A path param anywhere is code (apt-get installs a .deb named by path and runs its scripts). */
  readonly pathOperandIsCode?: string;
  /** tar: a non-path param as the archive (`-f {p}`) may be host:file, which runs a remote shell, unless this literal is present. */
  readonly remoteArchive?: { readonly options: readonly string[]; readonly unless: string };
}

export const TOOL_CLASSES: readonly ToolClass[] = [
  {
    kind: "shell",
    what: "a shell: any argument can be a command",
    names: [
      "sh", "bash", "rbash", "zsh", "dash", "ash", "ksh", "ksh93", "mksh", "pdksh", "oksh", "yash", "fish",
      "csh", "tcsh", "elvish", "nu", "xonsh", "pwsh", "powershell", "cmd", "cmd.exe", "rc", "es", "toybox",
    ],
    patterns: [/^(ba|da|z|k|mk|y|c|tc)sh([0-9.]+|-static)$/, /^busybox(\..+)?$/],
  },
  {
    kind: "runner",
    what: "a command runner: it runs the program named in its arguments",
    names: [
      "env", "xargs", "nohup", "timeout", "nice", "ionice", "renice", "setsid", "script", "watch", "stdbuf",
      "unbuffer", "flock", "chrt", "taskset", "unshare", "nsenter", "firejail", "bwrap", "strace", "ltrace",
      "gdb", "gdbserver", "lldb", "valgrind", "time", "parallel", "sem", "at", "batch", "crontab",
      "systemd-run", "systemd-nspawn", "expect", "screen", "tmux", "byobu", "dtach", "abduco",
      "start-stop-daemon", "run-parts", "cgexec", "caffeinate", "npx", "bunx", "pnpx", "uvx", "pipx",
      "perf", "chronic", "ifne", "pee", "entr", "lckdo", "eatmydata", "nocache", "faketime", "trickle",
      "torsocks", "proxychains", "proxychains4", "tsocks", "sshpass", "chpst", "envdir", "softlimit",
      "daemonize", "tsp", "logsave", "cpulimit", "catchsegv", "mpirun", "mpiexec", "xvfb-run",
      "dbus-run-session", "dbus-launch", "ssh-agent", "fakeroot", "fakeroot-sysv", "fakeroot-tcp",
      "fakechroot", "proot", "xdg-open", "run-mailcap", "see", "edit", "compose", "print",
      // socat's EXEC:/SYSTEM: addresses and netcat's -e/-c run commands
      "socat", "nc", "ncat", "netcat", "nc.openbsd", "nc.traditional",
      // personality and resource-limit wrappers: setarch(8) and its per-architecture names, prlimit, numactl
      "setarch", "linux32", "linux64", "i386", "x86_64", "uname26", "prlimit", "numactl", "runcon",
    ],
  },
  {
    kind: "privilege",
    what: 'a privilege tool; mark the command "elevate": true and run icecore with --elevate-with',
    names: [
      "sudo", "sudoedit", "su", "doas", "pkexec", "runuser", "setpriv", "chroot", "sg", "newgrp", "capsh",
      "setcap", "run0", "calife", "ksu", "su-exec", "gosu", "setuidgid",
    ],
  },
  {
    kind: "destructive",
    what: "a destructive tool and may not be allow-listed",
    names: [
      "rm", "dd", "shred", "wipefs", "fdisk", "sfdisk", "cfdisk", "gdisk", "sgdisk", "cgdisk", "parted",
      "blkdiscard", "mke2fs", "mkswap", "mkntfs", "mkdosfs", "newfs", "srm", "wipe",
    ],
    patterns: [/^mkfs(\..+)?$/, /^newfs_.+$/],
  },
  {
    kind: "loader",
    what: "the dynamic loader: it runs any program named in its arguments, with any library preloaded",
    // ld.so, ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld-2.31.so, ld64.so.2, ld-musl-x86_64.so.1
    patterns: [/^ld(64)?([-.][A-Za-z0-9_.-]*)?\.so(\.[0-9]+)*$/],
  },
  {
    kind: "interpreter",
    what: "an interpreter: it runs whatever script or code its arguments name",
    names: [
      "node", "nodejs", "bun", "bun.exe", "deno", "osascript", "Rscript", "R", "julia", "racket", "sbcl",
      "jshell", "groovy", "scala", "kotlin", "erl", "escript", "elixir", "iex", "clisp", "ecl", "gjs", "qjs",
      "runghc", "runhaskell", "ghci", "ocaml", "swipl", "pike", "octave",
    ],
    patterns: [
      /^(python|pypy)[0-9.]*$/,
      /^perl[0-9.]*(-[a-z0-9_]+-[a-z0-9_-]+)?$/,
      /^(ruby|jruby|irb)[0-9.]*$/,
      /^php[0-9.]*(-cli)?$/,
      /^lua(jit)?[0-9.]*$/,
      /^(tclsh|wish)[0-9.]*$/,
      /^guile[0-9.]*$/,
    ],
  },
  {
    kind: "code_runner",
    what: "an editor: it runs shell commands (:!cmd, M-!) and obeys commands in the files it opens and in +cmd arguments",
    names: [
      "vi", "vim", "gvim", "nvim", "ex", "view", "rview", "rvim", "vimdiff", "evim", "vipe", "ed", "red",
      "emacs", "emacs-nox", "emacsclient", "nano", "rnano", "pico", "joe", "jmacs", "jstar", "jpico", "rjoe",
      "mcedit", "jed", "micro", "kak", "hx", "mg", "zile", "editor", "sensible-editor", "select-editor",
      "vipw", "vigr", "visudo",
    ],
    patterns: [/^g?vim?\.[a-z0-9]+$/, /^emacs[0-9.]+(-nox)?$/],
  },
  {
    kind: "code_runner",
    what: "a pager or text browser: !cmd, +cmd arguments and its input filters run commands",
    names: ["less", "more", "most", "pg", "pager", "sensible-pager", "sensible-browser", "w3m", "lynx", "elinks", "links", "links2"],
  },
  {
    kind: "code_runner",
    what: "a build tool or package manager: it runs the recipes and scripts of what it builds or installs",
    names: [
      "make", "gmake", "bmake", "cmake", "ctest", "cpack", "ninja", "samu", "meson", "bazel", "bazelisk",
      "scons", "ant", "mvn", "gradle", "gradlew", "cargo", "rake", "just", "npm", "pnpm", "yarn", "yarnpkg",
      "gem", "bundle", "composer", "poetry", "uv", "pipenv", "tox", "nox", "go", "dune", "stack", "cabal",
      "mix", "rebar3", "sbt", "lein", "dpkg-buildpackage", "debuild", "rpmbuild", "autoreconf", "autoconf",
    ],
    patterns: [/^pip[0-9.]*$/],
  },
  {
    kind: "code_runner",
    what: "a database or calculator shell: its commands run shell commands (.shell, \\!, dc's !, m4's syscmd, gnuplot's system)",
    names: ["sqlite3", "sqlite", "mysql", "mariadb", "psql", "dc", "m4", "gnuplot"],
  },
  {
    kind: "program_text",
    what: "awk: its program is code (system(), print | \"cmd\", getline from a command)",
    names: ["awk", "gawk", "mawk", "nawk", "original-awk", "one-true-awk"],
    codeOptions: ["-f", "--file", "-e", "--source", "-i", "--include", "-l", "--load", "-E", "--exec", "-W"],
    valueOptions: ["-F", "--field-separator", "-v", "--assign", "-f", "--file", "-e", "--source", "-i", "--include", "-l", "--load", "-E", "--exec", "-W"],
  },
  {
    kind: "program_text",
    what: "sed: its script is code (the e command and s///e run shell commands, w writes files)",
    names: ["sed", "gsed"],
    codeOptions: ["-e", "--expression", "-f", "--file"],
    valueOptions: ["-e", "--expression", "-f", "--file", "-l", "--line-length"],
  },
  {
    kind: "code_options",
    what: "git: it runs commands named in its configuration and options (-c core.pager/alias.*/core.fsmonitor, hooks, and the repository's own config when -C/--git-dir choose it)",
    names: ["git"],
    codeOptions: ["-c", "--config-env", "-C", "--git-dir", "--work-tree", "--exec-path", "--upload-pack", "-u", "--receive-pack", "--exec", "-x", "--extcmd", "--template", "--config"],
  },
  {
    kind: "code_options",
    what: "tar: it runs the commands given to --to-command, --checkpoint-action=exec, -I/--use-compress-program, --rsh-command and --info-script",
    names: ["tar", "gtar", "bsdtar"],
    codeOptions: ["--checkpoint-action", "--to-command", "-I", "--use-compress-program", "--rsh-command", "--info-script", "--new-volume-script", "-F", "--rmt-command"],
    remoteArchive: { options: ["-f", "--file"], unless: "--force-local" },
  },
  {
    kind: "code_options",
    what: "zip: it runs the command given to -TT/--unzip-command",
    names: ["zip"],
    codeOptions: ["-TT", "--unzip-command"],
  },
  {
    kind: "code_options",
    what: "rsync: it runs the remote shell given to -e/--rsh and --rsync-path",
    names: ["rsync"],
    codeOptions: ["-e", "--rsh", "--rsync-path"],
  },
  {
    kind: "code_options",
    what: "ssh: -o and -F set ProxyCommand, LocalCommand and KnownHostsCommand, -S/-D name programs to run, -I loads a PKCS#11 library",
    names: ["ssh", "scp", "sftp", "slogin"],
    codeOptions: ["-o", "-F", "-S", "-D", "-I", "-J"],
  },
  {
    kind: "code_options",
    what: "dpkg: it runs the maintainer scripts of the packages it installs and the commands given to --pre-invoke, --post-invoke and --status-logger",
    names: ["dpkg"],
    codeOptions: ["-i", "--install", "--unpack", "--pre-invoke", "--post-invoke", "--status-logger", "--root", "--instdir", "--admindir"],
  },
  {
    kind: "code_options",
    what: "apt: -o/-c set hooks that run commands (APT::Update::Pre-Invoke, DPkg::Pre-Invoke), and a .deb named by path runs its maintainer scripts",
    names: ["apt", "apt-get", "aptitude", "apt-cache", "apt-config", "apt-mark"],
    codeOptions: ["-o", "--option", "-c", "--config-file"],
    pathOperandIsCode: "a .deb file named by path is installed and its maintainer scripts run",
  },
  {
    kind: "code_options",
    what: "tcpdump: it runs the command given to -z on every saved file",
    names: ["tcpdump"],
    codeOptions: ["-z"],
  },
  {
    kind: "code_options",
    what: "openssl: it loads and runs the engines, providers and config given to -engine, -provider and -config",
    names: ["openssl"],
    codeOptions: ["-engine", "-provider", "-provider-path", "-config", "-ssl_client_engine"],
  },
  {
    kind: "code_options",
    what: "gpg: it runs the programs named by --photo-viewer and --exec-path, and reads them from --options/--homedir configs",
    names: ["gpg", "gpg2", "gpgv"],
    codeOptions: ["--exec-path", "--photo-viewer", "--load-extension", "--options", "--homedir"],
  },
  {
    kind: "code_options",
    what: "wget: it runs the program given to --use-askpass and wgetrc commands from -e/--config",
    names: ["wget"],
    codeOptions: ["-e", "--execute", "--use-askpass", "--config"],
  },
  {
    kind: "code_options",
    what: "man: it runs the pager, browser and preprocessors named by -P, -H and -p, and the config given to -C",
    names: ["man"],
    codeOptions: ["-P", "--pager", "-H", "--html", "-p", "--preprocessor", "-C", "--config-file"],
  },
  {
    kind: "code_options",
    what: "find: -exec, -execdir, -ok and -okdir run commands, -delete and -fprint change files",
    names: ["find"],
  },
  {
    kind: "code_options",
    what: "GNU coreutils sort/split/install: --compress-program, --filter and --strip-program run commands",
    names: ["sort", "split", "install"],
    codeOptions: ["--compress-program", "--filter", "--strip-program"],
  },
  {
    kind: "code_options",
    what: "a compiler or linker: -wrapper, -B, -fplugin, -specs and -plugin run programs and load plugins",
    names: ["cc", "c++", "gcc", "g++", "cpp", "clang", "clang++", "ld", "ld.bfd", "ld.gold", "ld.lld", "lld"],
    patterns: [/^([a-z0-9_]+-linux-gnu[a-z]*-)?(gcc|g\+\+|cpp|clang|clang\+\+)(-[0-9.]+)?$/],
    codeOptions: ["-wrapper", "-B", "-fplugin", "-specs", "--specs", "-plugin", "--plugin"],
  },
];

function matches(c: ToolClass, base: string): boolean {
  return (c.names?.includes(base) ?? false) || (c.patterns?.some((re) => re.test(base)) ?? false);
}

/** Every class a program name belongs to (usually none or one). */
export function classesOfName(base: string): ToolClass[] {
  return TOOL_CLASSES.filter((c) => matches(c, base));
}

const ALL_NAMES = new Set(TOOL_CLASSES.flatMap((c) => c.names ?? []));
const ALL_PATTERNS = TOOL_CLASSES.flatMap((c) => c.patterns ?? []);

/** True when the name belongs to any class: what tool-identity.ts indexes on this machine. */
export function isKnownToolName(base: string): boolean {
  return ALL_NAMES.has(base) || ALL_PATTERNS.some((re) => re.test(base));
}

/**
 * Flags an interpreter may get before its script without running code from argv. Everything else
 * before the script (-c, -e, -m, -r, -x, --require, -d auto_prepend_file=…) is refused.
 */
export const SAFE_INTERPRETER_FLAGS: readonly [RegExp, readonly string[]][] = [
  [/^(python|pypy)/, ["-I", "-E", "-s", "-S", "-B", "-u", "-O", "-OO", "-P", "-q"]],
  [/^perl/, ["-T", "-t", "-w", "-W", "-X"]],
];
