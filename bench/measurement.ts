/**
 * The contract between `bench/run.ts` and one measurement in `bench/measure/`.
 * A measurement is a named async function that returns figures; the runner times it, catches its
 * failure (the other measurements still run) and renders every figure into the report.
 */
import type { BaselinePki } from "./harness/baseline-pki.ts";

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
}

export interface MeasurementResult {
  figures: Figure[];
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
  /** One progress line on stderr. */
  progress(message: string): void;
}

export interface Measurement {
  /** Stable key in latest.json, e.g. "cold_start". */
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<MeasurementResult>;
}
