/**
 * Counts the fsync and fdatasync calls of a process over a window, for the
 * deployed benchmark.
 *
 * The preferred source is `perf stat -e syscalls:sys_enter_fsync,
 * syscalls:sys_enter_fdatasync -p <pid>`: kernel tracepoints, counted in the
 * kernel, so the node runs at full speed (`strace -c -p` would stop the
 * process at every syscall of every thread — the HTTP server makes many —
 * and distort the very throughput being measured). perf attaches to every
 * thread of the process (SQLite's syncs run on Deno's blocking-task
 * threads; threads created later inherit the counters). It needs root or
 * `perf_event_paranoid` ≤ 1 and tracefs; when it cannot count, the
 * fallback is `/proc/<pid>/io` syscw — every write-family syscall (write,
 * writev, send on sockets …), NOT fsyncs: a proxy, labelled as such.
 *
 * @module
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeDir, stopChild, trackChild, trackDir } from "./_cleanup.ts";
import { writeSyscalls } from "./_proc_stats.ts";

/** Where a count came from: perf tracepoints (true fsyncs) or the syscw proxy (all writes). */
export type FsyncSource = "perf-tracepoints" | "proc-io-syscw";

const EVENTS = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync";

/**
 * Whether `perf stat` can count the fsync tracepoints of this machine (tried
 * once: a 0.1 s count over this process).
 *
 * @example
 * ```ts
 * import { perfCanCountFsyncs } from "./_fsync_counter.ts";
 * console.assert(typeof perfCanCountFsyncs() === "boolean");
 * ```
 */
export function perfCanCountFsyncs(): boolean {
  if (_perfOk !== undefined) return _perfOk;
  try {
    execFileSync("perf", ["stat", "-x", ",", "-e", EVENTS, "--", "sleep", "0.1"], {
      stdio: "ignore",
      timeout: 10_000,
    });
    _perfOk = true;
  } catch {
    _perfOk = false;
  }
  return _perfOk;
}
let _perfOk: boolean | undefined;

/** A count in progress over one process; {@linkcode FsyncWindow.stop} gives the count. */
export interface FsyncWindow {
  /** Ends the window: the number of calls counted, or `null` if the count failed. */
  stop(): Promise<number | null>;
}

/**
 * Starts counting `pid`'s fsync + fdatasync calls with `perf stat` (when
 * `source` is `perf-tracepoints`) or its write syscalls (`proc-io-syscw`).
 *
 * @example
 * ```ts
 * import { countFsyncs } from "./_fsync_counter.ts";
 * import process from "node:process";
 * const w = countFsyncs(process.pid, "proc-io-syscw");
 * console.assert(((await w.stop()) ?? 0) >= 0);
 * ```
 */
export function countFsyncs(pid: number, source: FsyncSource): FsyncWindow {
  if (source === "proc-io-syscw") {
    const before = writeSyscalls(pid);
    return {
      stop: () => {
        const after = writeSyscalls(pid);
        return Promise.resolve(before === null || after === null ? null : after - before);
      },
    };
  }
  const dir = trackDir(mkdtempSync(join(tmpdir(), "raft-bench-perf-")));
  const out = join(dir, "perf.csv");
  const child: ChildProcess = trackChild(spawn(
    "perf",
    ["stat", "-x", ",", "-e", EVENTS, "-p", String(pid), "-o", out],
    { stdio: "ignore" },
  ));
  return {
    async stop(): Promise<number | null> {
      // SIGINT: perf writes its counts and exits (SIGKILL after 5 s).
      await stopChild(child, 5_000, "SIGINT");
      try {
        let total = 0;
        let seen = 0;
        for (const line of readFileSync(out, "utf8").split("\n")) {
          const cells = line.split(",");
          if (cells.length < 3 || !(cells[2] ?? "").startsWith("syscalls:")) continue;
          // "<not counted>": no thread of the process ran while counting (an idle member): 0.
          const n = cells[0] === "<not counted>" ? 0 : Number(cells[0]);
          if (!Number.isFinite(n)) return null; // "<not supported>"
          total += n;
          seen++;
        }
        return seen === 2 ? total : null;
      } catch {
        return null;
      } finally {
        removeDir(dir);
      }
    },
  };
}
