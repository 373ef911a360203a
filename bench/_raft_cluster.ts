/**
 * Starts our three-node cluster for the deployed benchmark: three processes
 * of `examples/kv.ts` (the deployable node) under Deno or Bun, each with
 * the runtime's default durable storage (`--storage auto`: Deno KV on Deno,
 * bun:sqlite on Bun) in a temp data dir, Deno nodes with the flags they are
 * deployed with (`DENO_NODE_FLAGS`): node 1 with `--init`, then nodes 2
 * and 3 with `--join 127.0.0.1:<node 1>`, one at a time, each awaited until
 * `/ready` answers 200 and node 1's membership lists it as a voter.
 *
 * @module
 */

import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BenchCluster, type BenchMember, fetchJson, tail, waitFor } from "./_bench_cluster.ts";
import { removeDir, stopChild, trackChild, trackDir } from "./_cleanup.ts";
import { DENO_NODE_FLAGS } from "../chaos/node_contract.ts";

/** How to start our cluster. */
export interface RaftClusterOptions {
  /** The runtime the nodes run under. */
  readonly runtime: "deno" | "bun";
  /** Path of that runtime's executable. */
  readonly binary: string;
  /** The repository root (where `examples/kv.ts` is). */
  readonly root: string;
  /** Node `i` (1–3) listens on `basePort + i - 1`. */
  readonly basePort: number;
  /**
   * Extra runtime flags before the script, after `DENO_NODE_FLAGS` on Deno (they run with the
   * repository as cwd); `{id}` in them becomes the node's id (e.g.
   * `--inspect=127.0.0.1:933{id}`).
   */
  readonly runtimeArgs?: readonly string[];
  /** Extra flags of `examples/kv.ts` after the ones set here (e.g. `--election-timeout 1000-2000`). */
  readonly nodeFlags?: readonly string[];
  /** Time allowed for each node to become ready, in ms (default 60 s). */
  readonly readyTimeoutMs?: number;
}

/**
 * The first line of `binary --version` (`deno 2.9.6 (stable, …)` → `deno 2.9.6`).
 */
export function versionOf(name: string, binary: string): string {
  try {
    const out = execFileSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000 });
    const first = out.split("\n")[0] ?? "";
    const m = /(\d+\.\d+\.\d+)/.exec(first);
    return `${name} ${m === null ? first.trim() : m[1]}`;
  } catch {
    return `${name} (unknown version)`;
  }
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("RAFT_")) env[k] = v;
  }
  return env;
}

interface MetricsJSON {
  state?: string;
  membership?: { voters?: number[] };
}

/**
 * Starts the cluster (see the module doc). On failure everything started is
 * stopped and the error carries the failing node's log tail.
 */
export async function startRaftCluster(o: RaftClusterOptions): Promise<BenchCluster> {
  const dir = trackDir(mkdtempSync(join(tmpdir(), `raft-deployed-bench-${o.runtime}-`)));
  const members: BenchMember[] = [];
  const readyTimeoutMs = o.readyTimeoutMs ?? 60_000;
  const url = (m: BenchMember, path: string) => `http://127.0.0.1:${m.port}${path}`;
  const stop = async () => {
    await Promise.all(members.map((m) => stopChild(m.child, 10_000)));
    removeDir(dir);
  };
  try {
    for (const id of [1, 2, 3]) {
      const port = o.basePort + id - 1;
      const data = join(dir, `node-${id}`);
      mkdirSync(data, { recursive: true });
      const log = join(dir, `node-${id}.log`);
      const fd = openSync(log, "a");
      const role = id === 1 ? ["--init"] : ["--join", `127.0.0.1:${o.basePort}`];
      const args = [
        ...(o.runtime === "deno" ? ["run", "-A", ...DENO_NODE_FLAGS] : ["run"]),
        ...(o.runtimeArgs ?? []).map((arg) => arg.replaceAll("{id}", String(id))),
        join(o.root, "examples", "kv.ts"),
        "--id",
        String(id),
        "--addr",
        `127.0.0.1:${port}`,
        "--data",
        data,
        ...role,
        ...(o.nodeFlags ?? []),
      ];
      const child = trackChild(
        spawn(o.binary, args, { cwd: o.root, env: cleanEnv(), stdio: ["ignore", fd, fd] }),
      );
      closeSync(fd);
      if (child.pid === undefined) throw new Error(`cannot start ${o.binary}`);
      const member: BenchMember = { id, pid: child.pid, port, child, log };
      members.push(member);
      const hint = () => `\n--- node ${id} log (${log}):\n${tail(log)}`;
      const alive = () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `node ${id} exited (${child.exitCode ?? child.signalCode}) while starting${hint()}`,
          );
        }
      };
      await waitFor(
        `node ${id} ready`,
        async () => {
          alive();
          return (await fetchJson(url(member, "/ready"))).status === 200 ? true : undefined;
        },
        readyTimeoutMs,
        100,
        hint,
      ).catch((e) => {
        alive();
        throw e;
      });
      if (id > 1) {
        await waitFor(
          `node ${id} a voter`,
          async () => {
            alive();
            const m = (await fetchJson(url(members[0]!, "/cluster/metrics"))).json as MetricsJSON;
            return m.membership?.voters?.includes(id) === true ? true : undefined;
          },
          readyTimeoutMs,
          100,
          hint,
        );
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    system: `ours-${o.runtime}`,
    version: versionOf(o.runtime, o.binary),
    members,
    leader: () =>
      waitFor("a leader", async () => {
        for (const m of members) {
          const r = await fetchJson(url(m, "/cluster/metrics")).catch(() => null);
          if ((r?.json as MetricsJSON | null)?.state === "leader") return m;
        }
        return undefined;
      }, 15_000),
    stop,
    appendsSent: async (m) => {
      try {
        const res = await fetch(url(m, "/metrics"), { signal: AbortSignal.timeout(2_000) });
        const text = await res.text();
        const line = /^raft_append_requests_sent_total(?:\{[^}]*\})?\s+(\d+)/m.exec(text);
        return line === null ? null : Number(line[1]);
      } catch {
        return null;
      }
    },
  };
}
