/**
 * Runs the windows-x64 executable on Linux under Debian's Wine (PLATFORM-NOTES, "Running the
 * other targets"). Bun's Windows runtime imports bcryptprimitives.dll!ProcessPrng, which Wine 8
 * lacks: the stub beside this file (bcryptprimitives.c/.def) is compiled with MinGW and put into
 * a fresh prefix. Test support and a manual tool, never part of a shipped executable:
 *
 *   bun build/wine/wine.ts prefix            create a prefix, print its directory
 *   bun build/wine/wine.ts run <dir> <exe> [args...]
 *   bun build/wine/wine.ts kill <dir>        end every process of that prefix and remove it
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const WINE64 = "/usr/lib/wine/wine64";
export const WINESERVER = "/usr/lib/wine/wineserver";
export const MINGW_GCC = "x86_64-w64-mingw32-gcc";
const STUB_DIR = import.meta.dir;

/** Why Windows executables cannot run here, or null when they can. */
export function wineMissing(): string | null {
  if (process.platform !== "linux" || process.arch !== "x64") return `Wine tests run on linux-x64 only (this is ${process.platform}-${process.arch})`;
  if (!existsSync(WINE64)) return `${WINE64} is missing (apt-get install wine64)`;
  if (Bun.which(MINGW_GCC) === null) return `${MINGW_GCC} is missing (apt-get install gcc-mingw-w64-x86-64)`;
  return null;
}

/** A Linux path as Wine's Z: drive shows it to a Windows program. */
export function windowsPath(linuxPath: string): string {
  return `Z:${linuxPath.replaceAll("/", "\\")}`;
}

export interface WinePrefix {
  readonly dir: string;
  /** WINEPREFIX, WINEDEBUG and the rest: the environment every wine64 of this prefix runs with. */
  readonly env: Record<string, string>;
  /** argv that runs a Windows executable (a Linux path) in this prefix. */
  command(exe: string, args?: readonly string[]): string[];
  /** The Linux path of a file under the prefix's C: drive, e.g. "users/root/AppData/Local". */
  driveC(path: string): string;
  /** End every Windows process of this prefix (wineserver -k) and wait until they are gone. */
  kill(): void;
  /** kill(), then delete the prefix (≈700 MB). */
  remove(): void;
}

function run(argv: string[], env: Record<string, string>, what: string, output: "pipe" | "ignore" = "pipe"): void {
  const result = Bun.spawnSync(argv, { env, stdout: "ignore", stderr: output });
  if (result.exitCode !== 0) {
    const detail = result.stderr?.toString().trim().split("\n").slice(-3).join(" / ") ?? "";
    throw new Error(`${what} failed (exit ${result.exitCode})${detail ? `: ${detail}` : ""}`);
  }
}

/** Linux pids of the processes started with WINEPREFIX=<dir> (read from /proc/<pid>/environ). */
function processesOfPrefix(dir: string): number[] {
  const marker = `\0WINEPREFIX=${dir}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (`\0${readFileSync(`/proc/${pid}/environ`, "latin1")}`.includes(marker)) pids.push(pid);
    } catch {
      // Not ours to read, or gone.
    }
  }
  return pids;
}

/** wineserver's socket directory for a prefix is named after the prefix's device and inode. */
function serverDirName(prefixDir: string): string {
  const { dev, ino } = statSync(prefixDir);
  return `server-${dev.toString(16)}-${ino.toString(16)}`;
}

/**
 * wineserver leaves its socket directory behind (in /tmp/.wine-<uid>, or a /tmp/wine-XXXXXX of
 * its own, as Debian's Wine 8 does as root): remove ours, and the wine-XXXXXX around it if empty.
 */
function removeServerDir(name: string): void {
  const uid = process.getuid?.() ?? 0;
  for (const parent of readdirSync(tmpdir())) {
    if (parent !== `.wine-${uid}` && !/^wine-[A-Za-z0-9]{6}$/.test(parent)) continue;
    const holder = join(tmpdir(), parent);
    const server = join(holder, name);
    if (!existsSync(server)) continue;
    rmSync(server, { recursive: true, force: true });
    try {
      if (parent.startsWith("wine-") && readdirSync(holder).length === 0) rmdirSync(holder);
    } catch {
      // Another prefix's server may be using it.
    }
  }
}

export function openPrefix(dir: string): WinePrefix {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    WINEPREFIX: dir,
    WINEDEBUG: "-all",
    // No Mono or Gecko installer prompts: nothing here needs .NET or an HTML engine.
    WINEDLLOVERRIDES: "mscoree=;mshtml=",
  };
  delete env.DISPLAY;
  const prefix: WinePrefix = {
    dir,
    env,
    command: (exe, args = []) => [WINE64, exe, ...args],
    driveC: (path) => join(dir, "drive_c", path),
    kill() {
      if (existsSync(dir)) Bun.spawnSync([WINESERVER, "-k"], { env, stdout: "ignore", stderr: "ignore" });
      // -w: return once the server (and with it every process of the prefix) has exited.
      if (existsSync(dir)) Bun.spawnSync([WINESERVER, "-w"], { env, stdout: "ignore", stderr: "ignore" });
      // A process still starting up (services.exe launching winedevice.exe) is not yet known to
      // the server and outlives -k; it is ours by its WINEPREFIX, so it is ended by pid.
      for (const pid of processesOfPrefix(dir)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
    },
    remove() {
      prefix.kill();
      const server = existsSync(dir) ? serverDirName(dir) : null;
      rmSync(dir, { recursive: true, force: true });
      if (server !== null) removeServerDir(server);
    },
  };
  return prefix;
}

/**
 * A fresh prefix with the bcryptprimitives stub (first start ≈ 9 s). Its wineserver stays up
 * (-p) until kill(), so later starts cost ≈ 1 s; callers must kill() or remove() it.
 */
export function createPrefix(parent: string = tmpdir()): WinePrefix {
  const missing = wineMissing();
  if (missing !== null) throw new Error(missing);
  const dir = mkdtempSync(join(parent, "icecore-wine-"));
  const prefix = openPrefix(dir);
  try {
    const dll = join(dir, "bcryptprimitives.dll");
    run(
      [MINGW_GCC, "-O2", "-shared", "-o", dll, join(STUB_DIR, "bcryptprimitives.c"), join(STUB_DIR, "bcryptprimitives.def"), "-ladvapi32"],
      prefix.env,
      "compiling the bcryptprimitives stub",
    );
    // The server detaches; it must not hold on to a pipe of ours.
    run([WINESERVER, "-p"], prefix.env, "starting wineserver", "ignore");
    // Not "pipe": the services wineboot starts (services.exe, plugplay…) inherit its stdio and
    // live as long as the server, so a pipe would never reach end-of-file.
    run([WINE64, "wineboot", "--init"], prefix.env, "creating the Wine prefix", "ignore");
    copyFileSync(dll, prefix.driveC("windows/system32/bcryptprimitives.dll"));
    return prefix;
  } catch (error) {
    prefix.remove();
    throw error;
  }
}

if (import.meta.main) {
  const [verb, ...rest] = process.argv.slice(2);
  if (verb === "prefix") {
    process.stdout.write(`${createPrefix().dir}\n`);
  } else if (verb === "run" && rest.length >= 2) {
    const prefix = openPrefix(rest[0]!);
    const proc = Bun.spawn(prefix.command(rest[1]!, rest.slice(2)), { env: prefix.env, stdio: ["inherit", "inherit", "inherit"] });
    process.exit(await proc.exited);
  } else if (verb === "kill" && rest.length === 1) {
    openPrefix(rest[0]!).remove();
  } else {
    process.stderr.write("usage: bun build/wine/wine.ts prefix | run <dir> <exe> [args...] | kill <dir>\n");
    process.exit(64);
  }
}
