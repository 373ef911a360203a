/**
 * Leaves nothing behind after a crash of the harness: every run lists the
 * node processes it started in `/tmp/xraft-chaos/live/<harness pid>`, and
 * its network namespaces are named `xraft-<harness pid>-…`. At the start of
 * a run, {@linkcode cleanupStale} kills the listed processes of harnesses
 * that are gone (only those whose command line is the node program) and
 * deletes their namespaces.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE_PROGRAM } from "./node_contract.ts";

/** Where runs list their node processes. */
export const LIVE_DIR = "/tmp/xraft-chaos/live";

/** The prefix of every network namespace and interface the harness creates. */
export const NETNS_PREFIX = "xraft-";

/**
 * Whether process `pid` exists.
 *
 * @example
 * ```ts
 * import { isAlive } from "./stale_cleanup.ts";
 * console.assert(isAlive(process.pid));
 * ```
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}

/**
 * The node processes of this harness, listed on disk as they start.
 */
export class PidRegistry {
  readonly #pids = new Set<number>();
  readonly #path = join(LIVE_DIR, String(process.pid));

  /** Records a started node process. */
  add(pid: number): void {
    this.#pids.add(pid);
    this.#write();
  }

  /** Forgets all (the run is over and its processes are gone). */
  clear(): void {
    this.#pids.clear();
    rmSync(this.#path, { force: true });
  }

  #write(): void {
    mkdirSync(LIVE_DIR, { recursive: true });
    writeFileSync(this.#path, [...this.#pids].join("\n") + "\n");
  }
}

/**
 * Kills the node processes and deletes the namespaces of harnesses that
 * are gone; returns what it did, one line each.
 */
export function cleanupStale(): string[] {
  return _cleanup((owner) => !isAlive(owner));
}

/**
 * Kills this harness's own node processes and deletes its namespaces (on
 * SIGINT/SIGTERM, when the run's `finally` will not run); what it did.
 */
export function cleanupOwn(): string[] {
  return _cleanup((owner) => owner === process.pid);
}

function _cleanup(isTarget: (owner: number) => boolean): string[] {
  const done: string[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(LIVE_DIR);
  } catch {
    files = [];
  }
  for (const file of files) {
    const owner = Number(file);
    if (!Number.isSafeInteger(owner) || !isTarget(owner)) continue;
    const path = join(LIVE_DIR, file);
    for (const line of readFileSync(path, "utf8").split("\n")) {
      const pid = Number(line);
      if (line === "" || !Number.isSafeInteger(pid) || !isAlive(pid)) continue;
      let cmdline = "";
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue;
      }
      if (!cmdline.includes(NODE_PROGRAM)) continue;
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        // gone meanwhile
      }
      try {
        process.kill(pid, "SIGKILL");
        done.push(`killed stale node process ${pid} of harness ${owner}`);
      } catch {
        // gone meanwhile
      }
    }
    rmSync(path, { force: true });
  }
  for (const ns of listNamespaces()) {
    const owner = Number(/^xraft-(\d+)-/.exec(ns)?.[1]);
    if (!Number.isSafeInteger(owner) || !isTarget(owner)) continue;
    deleteNamespace(ns);
    done.push(`deleted stale network namespace ${ns}`);
  }
  return done;
}

/**
 * The network namespaces named `xraft-…` (none if `ip` is missing).
 *
 * @example
 * ```ts
 * import { listNamespaces } from "./stale_cleanup.ts";
 * console.assert(Array.isArray(listNamespaces()));
 * ```
 */
export function listNamespaces(): string[] {
  try {
    const out = execFileSync("ip", ["netns", "list"], { encoding: "utf8", timeout: 5000 });
    return out.split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) =>
      n.startsWith(NETNS_PREFIX)
    );
  } catch {
    return [];
  }
}

/**
 * Kills every process in namespace `ns` and deletes it (its veths go with it).
 */
export function deleteNamespace(ns: string): void {
  if (!ns.startsWith(NETNS_PREFIX)) throw new Error(`not a harness namespace: ${ns}`);
  try {
    const pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8", timeout: 5000 });
    for (const line of pids.split("\n")) {
      const pid = Number(line);
      if (line !== "" && Number.isSafeInteger(pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
    }
  } catch {
    // no such namespace
  }
  try {
    execFileSync("ip", ["netns", "delete", ns], { timeout: 5000, stdio: "ignore" });
  } catch {
    // already gone
  }
}
