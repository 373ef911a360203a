/**
 * Starts a three-member etcd cluster on 127.0.0.1 for the deployed
 * benchmark's side-by-side runs: each member with its own temp data dir
 * (etcd's default durability: fsync on every raft batch), client port
 * `clientBase + i - 1` (its v3 JSON gateway: `POST /v3/kv/put`,
 * `POST /v3/kv/range`) and peer port `peerBase + i - 1`, all started at once
 * with `--initial-cluster-state new`, awaited until `/health` says so on
 * every member. Written for etcd 3.4 (Debian's `etcd-server`); the flags
 * used are the same in 3.5 and 3.6.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { accessSync, closeSync, constants, mkdtempSync, openSync } from "node:fs";
import { delimiter, join } from "node:path";
import { tmpdir } from "node:os";
import process from "node:process";
import { type BenchCluster, type BenchMember, fetchJson, tail, waitFor } from "./_bench_cluster.ts";
import { removeDir, stopChild, trackChild, trackDir } from "./_cleanup.ts";
import { versionOf } from "./_raft_cluster.ts";

/**
 * The path of `etcd` on `PATH`, or `null` when there is none.
 *
 * @example
 * ```ts
 * import { findEtcd } from "./_etcd_cluster.ts";
 * const etcd = findEtcd();
 * console.assert(etcd === null || etcd.endsWith("etcd"));
 * ```
 */
export function findEtcd(): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "etcd");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch { /* not here */ }
  }
  return null;
}

/** How to start the etcd cluster. */
export interface EtcdClusterOptions {
  /** Path of the `etcd` executable. */
  readonly binary: string;
  /** Member `i` (1–3) serves clients on `clientBase + i - 1`. */
  readonly clientBase: number;
  /** Member `i` (1–3) talks to its peers on `peerBase + i - 1`. */
  readonly peerBase: number;
  /** Time allowed for the cluster to become healthy, in ms (default 60 s). */
  readonly readyTimeoutMs?: number;
}

interface StatusJSON {
  header?: { member_id?: string };
  leader?: string;
}

/**
 * Starts the etcd cluster (see the module doc); on failure stops what was
 * started and throws with the failing member's log tail.
 */
export async function startEtcdCluster(o: EtcdClusterOptions): Promise<BenchCluster> {
  const dir = trackDir(mkdtempSync(join(tmpdir(), "raft-deployed-bench-etcd-")));
  const members: BenchMember[] = [];
  const peer = (i: number) => `http://127.0.0.1:${o.peerBase + i - 1}`;
  const client = (i: number) => `http://127.0.0.1:${o.clientBase + i - 1}`;
  const initialCluster = [1, 2, 3].map((i) => `m${i}=${peer(i)}`).join(",");
  const stop = async () => {
    await Promise.all(members.map((m) => stopChild(m.child, 10_000)));
    removeDir(dir);
  };
  try {
    for (const id of [1, 2, 3]) {
      const log = join(dir, `m${id}.log`);
      const fd = openSync(log, "a");
      const args = [
        "--name",
        `m${id}`,
        "--data-dir",
        join(dir, `m${id}.etcd`),
        "--listen-client-urls",
        client(id),
        "--advertise-client-urls",
        client(id),
        "--listen-peer-urls",
        peer(id),
        "--initial-advertise-peer-urls",
        peer(id),
        "--initial-cluster",
        initialCluster,
        "--initial-cluster-token",
        "raft-deployed-bench",
        "--initial-cluster-state",
        "new",
      ];
      const child = trackChild(spawn(o.binary, args, { stdio: ["ignore", fd, fd] }));
      closeSync(fd);
      if (child.pid === undefined) throw new Error(`cannot start ${o.binary}`);
      members.push({ id, pid: child.pid, port: o.clientBase + id - 1, child, log });
    }
    for (const m of members) {
      const hint = () => `\n--- etcd member ${m.id} log (${m.log}):\n${tail(m.log)}`;
      await waitFor(
        `etcd member ${m.id} healthy`,
        async () => {
          if (m.child.exitCode !== null || m.child.signalCode !== null) {
            throw new Error(`etcd member ${m.id} exited while starting${hint()}`);
          }
          const r = await fetchJson(`${client(m.id)}/health`);
          return (r.json as { health?: string } | null)?.health === "true" ? true : undefined;
        },
        o.readyTimeoutMs ?? 60_000,
        100,
        hint,
      ).catch((e) => {
        if (m.child.exitCode !== null) {
          throw new Error(`etcd member ${m.id} exited while starting${hint()}`);
        }
        throw e;
      });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    system: "etcd",
    version: versionOf("etcd", o.binary),
    members,
    leader: () =>
      waitFor("an etcd leader", async () => {
        for (const m of members) {
          const r = await fetchJson(`${client(m.id)}/v3/maintenance/status`, {
            method: "POST",
            body: "{}",
            headers: { "content-type": "application/json" },
          }).catch(() => null);
          const s = r?.json as StatusJSON | null;
          if (s?.leader !== undefined && s.header?.member_id === s.leader) return m;
        }
        return undefined;
      }, 15_000),
    stop,
  };
}
