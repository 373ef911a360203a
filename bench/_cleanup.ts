/**
 * Everything the deployed benchmark starts or creates — child processes
 * (nodes, etcd members, the load generator, perf) and temp directories —
 * is registered here, and removed on every way out: the normal end
 * ({@linkcode cleanupAll}), an exception, and Ctrl-C / SIGTERM
 * ({@linkcode installCleanupHandlers}: kill everything, remove the
 * directories, exit 130 / 143).
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import process from "node:process";

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
// Resolved on the child's "exit" event: under Deno, `kill()` sets `signalCode` at once (before the
// process has exited) and a second `kill()` is a no-op, so neither is trusted: signals go through
// `process.kill(pid)` and exits are known from the event alone.
const exits = new WeakMap<ChildProcess, Promise<void>>();

/**
 * Registers `child` to be killed at cleanup (forgotten once it exits).
 *
 * @example
 * ```ts
 * import { spawn } from "node:child_process";
 * import { trackChild } from "./_cleanup.ts";
 * const child = trackChild(spawn("true"));
 * await new Promise((resolve) => child.once("exit", resolve));
 * ```
 */
export function trackChild<C extends ChildProcess>(child: C): C {
  children.add(child);
  exits.set(
    child,
    new Promise<void>((resolve) => {
      const done = () => {
        children.delete(child);
        resolve();
      };
      child.once("exit", done);
      child.once("error", done);
    }),
  );
  return child;
}

/**
 * Registers `dir` to be removed (recursively) at cleanup; answers `dir`.
 *
 * @example
 * ```ts
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { cleanupAll, trackDir } from "./_cleanup.ts";
 * trackDir(mkdtempSync(join(tmpdir(), "example-")));
 * await cleanupAll();
 * ```
 */
export function trackDir(dir: string): string {
  dirs.add(dir);
  return dir;
}

/**
 * Removes `dir` now (and forgets it).
 *
 * @example
 * ```ts
 * import { removeDir } from "./_cleanup.ts";
 * removeDir("/nonexistent-dir-for-the-example");
 * ```
 */
export function removeDir(dir: string): void {
  dirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

function exited(child: ChildProcess): Promise<void> {
  return exits.get(child) ?? Promise.resolve();
}

function signal(child: ChildProcess, sig: "SIGTERM" | "SIGINT" | "SIGKILL"): void {
  if (child.pid === undefined || !children.has(child)) return;
  try {
    process.kill(child.pid, sig);
  } catch { /* already gone */ }
}

/**
 * Stops `child` (registered with {@linkcode trackChild}): `sig` (SIGTERM: a node hands leadership over and
 * exits), then SIGKILL after `graceMs`. Resolves once it has exited.
 *
 * @example
 * ```ts
 * import { spawn } from "node:child_process";
 * import { stopChild, trackChild } from "./_cleanup.ts";
 * await stopChild(trackChild(spawn("sleep", ["10"])), 1_000);
 * ```
 */
export async function stopChild(
  child: ChildProcess,
  graceMs = 5_000,
  sig: "SIGTERM" | "SIGINT" = "SIGTERM",
): Promise<void> {
  if (!children.has(child)) return;
  signal(child, sig);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      signal(child, "SIGKILL");
      resolve();
    }, graceMs);
  });
  await Promise.race([exited(child), killed]);
  clearTimeout(timer);
  await Promise.race([exited(child), new Promise((r) => setTimeout(r, 2_000))]);
}

/**
 * Stops every registered child (SIGTERM, SIGKILL after `graceMs`) and
 * removes every registered directory.
 *
 * @example
 * ```ts
 * import { cleanupAll } from "./_cleanup.ts";
 * await cleanupAll();
 * ```
 */
export async function cleanupAll(graceMs = 5_000): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, graceMs)));
  for (const dir of [...dirs]) removeDir(dir);
}

function killAllNow(): void {
  for (const child of children) signal(child, "SIGKILL");
  for (const dir of [...dirs]) {
    try {
      removeDir(dir);
    } catch { /* best effort */ }
  }
}

let installed = false;

/**
 * On SIGINT / SIGTERM: stop everything (bounded: 3 s, then SIGKILL), remove
 * the directories, exit 130 / 143. On process exit: SIGKILL whatever is
 * left and remove the directories (synchronously). Idempotent.
 *
 * @example
 * ```ts
 * import { installCleanupHandlers } from "./_cleanup.ts";
 * installCleanupHandlers();
 * ```
 */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  const onSignal = (code: number) => () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write("\ninterrupted: stopping every process and removing temp dirs…\n");
    cleanupAll(3_000).finally(() => process.exit(code));
  };
  process.on("SIGINT", onSignal(130));
  process.on("SIGTERM", onSignal(143));
  process.on("exit", killAllNow);
}
