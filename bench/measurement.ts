/**
 * The contract between `bench/run.ts` and one measurement in `bench/measure/`.
 * A measurement is a named async function that returns figures; the runner times it, catches its
 * failure (the other measurements still run) and renders every figure into the report.
 */
import type { BaselinePki } from "./harness/baseline-pki.ts";
import type { PeerServer, PeersAvailability } from "./harness/peers.ts";

/**
 * A goal the figure is held to (issue 16): against the floor's figure (`ratio_*`, `plus_at_most`)
 * or against the figure's own value (`at_least`, for a ratio measured within icecore).
 */
export type Target =
  | { kind: "ratio_at_most"; value: number }
  | { kind: "ratio_at_least"; value: number }
  | { kind: "plus_at_most"; value: number }
  | { kind: "at_least"; value: number };

export interface Figure {
  /** What was measured, e.g. "exec → api_ready (wall clock), median". */
  name: string;
  value: number;
  unit: string;
  /** The baseline's value for the same figure, when the measurement has one. */
  baseline?: number;
  /** Which direction is better; with `baseline` the report also gives the ratio icecore ÷ baseline. */
  better?: "higher" | "lower";
  note?: string;
  target?: Target;
}

/** One figure for each server of an interleaved shared/peers measure run (medians, with spread). */
export interface PeerFigure {
  name: string;
  unit: string;
  better: "higher" | "lower";
  median: Record<PeerServer, number>;
  min: Record<PeerServer, number>;
  max: Record<PeerServer, number>;
  /** Held against bun-floor's median. */
  target?: Target;
}

export interface MeasurementResult {
  figures: Figure[];
  /** Figures of go-seed, bun-floor and icecore from one interleaved run (measurements of the peers). */
  peerFigures?: PeerFigure[];
  /** Set when the measurement could not run here (say, no Go for the peers): printed, not a failure. */
  skipped?: string;
  /** Free-text remarks printed under the measurement's table (method, caveats). */
  notes: string[];
}

export interface BenchContext {
  /** Repository root. */
  readonly root: string;
  /** The compiled executable under test (`dist/icecore`). */
  readonly binary: string;
  /** The Bun that runs the bench and the load children. */
  readonly bun: string;
  /** The Node that runs the baseline server. */
  readonly node: string;
  /** `["--allow-root"]` when the bench runs as root (icecore refuses uid 0 otherwise), else `[]`. */
  readonly rootFlags: readonly string[];
  /** A fresh private directory for this bench run; removed at the end. */
  readonly scratch: string;
  /** Certificates for the baseline server and its client, minted once by icecore's own PKI code. */
  baselinePki(): Promise<BaselinePki>;
  /** shared/peers built for this bench (once), or why they cannot be. */
  peers(): Promise<PeersAvailability>;
  /** `--quick`: fewer runs wherever a measurement offers it (for checking the bench itself, not for figures). */
  readonly quick: boolean;
  /** One progress line on stderr. */
  progress(message: string): void;
}

export interface Measurement {
  /** Stable key in latest.json, e.g. "cold_start". */
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<MeasurementResult>;
}
