/** Turning measure's per-server statistics into the report's PeerFigures. */
import type { PeerFigure, Target } from "../measurement.ts";
import { PEER_SERVERS, type PeerRun, type PeerServer, type PeerStats } from "./peers.ts";

/** One figure from the same statistic of every server; servers that lack it count as 0. */
export function peerFigure(
  run: PeerRun,
  name: string,
  unit: string,
  better: "higher" | "lower",
  pick: (server: PeerServer) => PeerStats | undefined,
  target?: Target,
): PeerFigure {
  const median = {} as Record<PeerServer, number>;
  const min = {} as Record<PeerServer, number>;
  const max = {} as Record<PeerServer, number>;
  for (const server of PEER_SERVERS) {
    const s = pick(server);
    median[server] = s?.median ?? 0;
    min[server] = s?.min ?? 0;
    max[server] = s?.max ?? 0;
  }
  return { name, unit, better, median, min, max, ...(target ? { target } : {}) };
}

/** The lines every peer measurement ends its remarks with: what ran, and what measure said. */
export function peerRunNotes(run: PeerRun): string[] {
  const busy = run.remarks.filter((r) => r.includes("still busy")).length;
  const other = run.remarks.filter((r) => !r.includes("still busy")).map((r) => r.replace(/^measure: /, ""));
  return [
    `\`${run.argv.map((a) => (a.includes(" ") ? `"${a}"` : a)).join(" ")}\` (shared/peers measure, Go ${run.go}, ${run.nproc} cores, servers interleaved run by run, each run after the machine was quiet or 60 s had passed; load runs pinned: server on core 0, loadgen on core 1: ${run.pinned}).`,
    ...(busy ? [`measure found the machine busy (other processes > 0.1 core) for 60 s before ${busy} of its runs and measured anyway: treat absolute figures with care, ratios less so.`] : []),
    ...other.slice(0, 12).map((r) => `measure: ${r}`),
    ...(other.length > 12 ? [`measure: … ${other.length - 12} more lines`] : []),
  ];
}
