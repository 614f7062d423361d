/**
 * How to start this same program again: a compiled executable is its own `process.execPath`;
 * from sources it is Bun plus the entry script (SPEC §2: `run` without a child runs `connect`).
 */
export function isCompiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/.test(Bun.main);
}

export function selfCommand(...args: string[]): string[] {
  return isCompiled() ? [process.execPath, ...args] : [process.execPath, Bun.main, ...args];
}
