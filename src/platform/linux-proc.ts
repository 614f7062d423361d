/** Linux's per-process facts in /proc, read the one way every Linux platform file needs them. */
import { readFileSync } from "node:fs";

export interface ProcStat {
  ppid: number;
  /** Process group id. */
  pgrp: number;
  state: string;
  startTime: string;
}

/** Fields of /proc/<pid>/stat after the parenthesised comm, which may itself contain ") "; null when the process is gone. */
export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // proc(5): field 3 state, 4 ppid, 5 pgrp, 22 starttime; fields[0] here is field 3.
  const state = fields[0];
  const ppid = Number(fields[1]);
  const pgrp = Number(fields[2]);
  const startTime = fields[19];
  if (state === undefined || !Number.isInteger(ppid) || !Number.isInteger(pgrp) || startTime === undefined) return null;
  return { ppid, pgrp, state, startTime };
}
