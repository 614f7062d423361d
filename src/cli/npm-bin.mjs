#!/usr/bin/env node
// `npm install -g .` from a clone links this file onto PATH (package.json "bin"). It needs only
// Node, which npm brings: it starts the compiled executable of this clone (`npm run build`), or
// else the sources with the clone's own pinned Bun, never a `bun` from PATH.
import { spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(realpathSync(fileURLToPath(import.meta.url))), "..", "..");
const windows = process.platform === "win32";
const compiled = join(root, "dist", windows ? "icecore-windows-x64.exe" : "icecore");
const bun = join(root, "node_modules", "bun", "bin", "bun.exe"); // its name on every OS
const argv = existsSync(compiled) ? [compiled] : existsSync(bun) ? [bun, join(root, "src", "cli", "main.ts")] : null;
if (argv === null) {
  process.stderr.write(`icecore: not built yet: run 'npm ci && npm run build' in ${root}\n`);
  process.exit(69);
}
const child = spawn(argv[0], [...argv.slice(1), ...process.argv.slice(2)], { stdio: "inherit" });
// Ctrl-C reaches the whole foreground process group, icecore included; other signals are passed on.
process.on("SIGINT", () => {});
for (const signal of ["SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("error", (error) => {
  process.stderr.write(`icecore: cannot start ${argv[0]}: ${error.message}\n`);
  process.exit(69);
});
child.on("exit", (code, signal) => {
  if (signal === null) process.exit(code ?? 70);
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
});
