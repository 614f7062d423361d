/**
 * `npm start`: the whole flow on this machine with the built-in reference child.
 * icecore refuses uid 0 (SPEC §7); fresh machines and CI often are root, so under npm start
 * only, a root user gets `--allow-root` added, and is told so. Everyone else runs it as is.
 */
const args = ["run", ...process.argv.slice(2)];
if (process.getuid?.() === 0 && !args.includes("--allow-root")) {
  process.stderr.write("npm start: running as root, so adding --allow-root (icecore is meant to run as a normal user; see README)\n");
  args.splice(1, 0, "--allow-root");
}
const child = Bun.spawn([process.execPath, `${import.meta.dir}/main.ts`, ...args], { stdio: ["inherit", "inherit", "inherit"] });
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
process.exit(await child.exited);
