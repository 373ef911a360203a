/**
 * Per-process resource figures of the deployed benchmark, read from Linux's
 * `/proc` (no dependency, works the same under Deno and Bun): CPU time
 * (`/proc/<pid>/stat` utime + stime, every thread of the process), memory
 * (`/proc/<pid>/status` VmRSS now and VmHWM, the peak since the process
 * started) and write syscalls (`/proc/<pid>/io` syscw, the fsync counter's
 * fallback: see `_fsync_counter.ts`).
 *
 * Every reader answers `null` instead of throwing when the process is gone
 * or `/proc` is not there (not Linux).
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second of `/proc/<pid>/stat`'s utime/stime (`getconf CLK_TCK`, 100 on Linux). */
export const CLOCK_TICKS: number = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/**
 * CPU seconds (user + system, all threads) `pid` has used so far, or `null`.
 *
 * @example
 * ```ts
 * import { cpuSeconds } from "./_proc_stats.ts";
 * import process from "node:process";
 * console.assert((cpuSeconds(process.pid) ?? 0) >= 0);
 * ```
 */
export function cpuSeconds(pid: number): number | null {
  const text = readText(`/proc/${pid}/stat`);
  if (text === null) return null;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Field 3 (state) is fields[0]: utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return (utime + stime) / CLOCK_TICKS;
}

/** The memory figures of `/proc/<pid>/status`, in MiB. */
export interface MemoryMB {
  /** Resident set size now (VmRSS). */
  readonly rss: number;
  /** Peak resident set size since the process started (VmHWM). */
  readonly hwm: number;
}

/**
 * `pid`'s resident memory now and at its peak, in MiB, or `null`.
 *
 * @example
 * ```ts
 * import { memoryMB } from "./_proc_stats.ts";
 * import process from "node:process";
 * const m = memoryMB(process.pid);
 * console.assert(m === null || m.hwm >= m.rss);
 * ```
 */
export function memoryMB(pid: number): MemoryMB | null {
  const text = readText(`/proc/${pid}/status`);
  if (text === null) return null;
  const kb = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m").exec(text);
    return m === null ? NaN : Number(m[1]);
  };
  const rss = kb("VmRSS");
  const hwm = kb("VmHWM");
  if (!Number.isFinite(rss)) return null;
  return { rss: rss / 1024, hwm: (Number.isFinite(hwm) ? hwm : rss) / 1024 };
}

/**
 * The number of write-family syscalls `pid` has made (`syscw` of
 * `/proc/<pid>/io`), or `null` (gone, or not readable).
 *
 * @example
 * ```ts
 * import { writeSyscalls } from "./_proc_stats.ts";
 * import process from "node:process";
 * console.assert((writeSyscalls(process.pid) ?? 0) >= 0);
 * ```
 */
export function writeSyscalls(pid: number): number | null {
  const text = readText(`/proc/${pid}/io`);
  if (text === null) return null;
  const m = /^syscw:\s+(\d+)/m.exec(text);
  return m === null ? null : Number(m[1]);
}

/**
 * Samples VmRSS of some processes at a fixed period until stopped, keeping
 * each one's peak: a peak over one run (VmHWM is over the process's life).
 *
 * @example
 * ```ts
 * import { RssSampler } from "./_proc_stats.ts";
 * import process from "node:process";
 * const sampler = new RssSampler([process.pid], 50);
 * const peaks = sampler.stop();
 * console.assert(peaks.length === 1);
 * ```
 */
export class RssSampler {
  readonly #pids: readonly number[];
  readonly #peaks: number[];
  readonly #timer: ReturnType<typeof setInterval>;

  /** Starts sampling `pids` every `periodMs` (one sample at once). */
  constructor(pids: readonly number[], periodMs = 200) {
    this.#pids = pids;
    this.#peaks = pids.map(() => 0);
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), periodMs);
  }

  #sample(): void {
    this.#pids.forEach((pid, i) => {
      const m = memoryMB(pid);
      if (m !== null && m.rss > (this.#peaks[i] ?? 0)) this.#peaks[i] = m.rss;
    });
  }

  /** Stops sampling (one last sample first); each process's peak VmRSS in MiB, in `pids` order. */
  stop(): number[] {
    clearInterval(this.#timer);
    this.#sample();
    return [...this.#peaks];
  }
}
