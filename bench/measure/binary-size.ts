/**
 * Binary size: the compiled executable, against what the baseline needs on disk to run: the node
 * executable plus the node_modules it loads (hono, @hono/node-server).
 */
import { lstatSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Measurement } from "../measurement.ts";

const MB = 1e6;

/** Bytes of every regular file under `path` (apparent size, like `du -sb`). */
function treeBytes(path: string): number {
  const stat = lstatSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + treeBytes(join(path, name)), 0);
}

/** Installed-Size of the Debian package that owns `file`, in bytes, when dpkg knows it. */
function debianPackageBytes(file: string): { name: string; bytes: number } | null {
  const owner = Bun.spawnSync(["dpkg", "-S", file], { stderr: "ignore" });
  if (owner.exitCode !== 0) return null;
  const name = owner.stdout.toString().split(":")[0]!.trim();
  const size = Bun.spawnSync(["dpkg-query", "-W", "-f=${Installed-Size}", name], { stderr: "ignore" });
  const kib = Number(size.stdout.toString().trim());
  return size.exitCode === 0 && kib > 0 ? { name, bytes: kib * 1024 } : null;
}

export const binarySize: Measurement = {
  id: "binary_size",
  title: "Binary size",
  async run(ctx) {
    const executable = realpathSync(ctx.binary);
    const size = statSync(executable).size;
    const node = realpathSync(ctx.node);
    const modules = ["hono", "@hono/node-server"].map((m) => join(ctx.root, "node_modules", m));
    const nodeBytes = statSync(node).size;
    const moduleBytes = modules.reduce((sum, dir) => sum + treeBytes(dir), 0);
    const nodePackage = debianPackageBytes(node);
    return {
      figures: [
        {
          name: `${executable.slice(ctx.root.length + 1)} size`,
          value: size / MB,
          unit: "MB",
          baseline: (nodeBytes + moduleBytes) / MB,
          better: "lower",
          note: "baseline: node executable + hono + @hono/node-server",
        },
      ],
      notes: [
        "icecore is one self-contained file (the Bun runtime, its code and its dependencies). The baseline needs a Node installation plus node_modules.",
        `Baseline on disk: ${node} ${(nodeBytes / MB).toFixed(1)} MB + node_modules/hono and node_modules/@hono/node-server ${(moduleBytes / MB).toFixed(1)} MB` +
          (nodePackage ? `; the whole Debian package ${nodePackage.name} (with npm and headers) is ${(nodePackage.bytes / MB).toFixed(1)} MB installed.` : "."),
      ],
    };
  },
};
