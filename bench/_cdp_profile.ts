/**
 * A CPU profile of a running Deno node through its inspector (Chrome
 * DevTools Protocol), for the deployed benchmark's profiling: start the
 * nodes with `--node-args "--inspect=127.0.0.1:933{id}"`, then, while the
 * load runs,
 *
 *   deno run -A bench/_cdp_profile.ts 9331 10        # node 1's inspector, 10 s
 *
 * prints the top functions by self time (V8's sampling profiler: JavaScript
 * functions by name and file; time in native code called from JavaScript
 * is attributed to the calling function or to `(program)` — the runtime's
 * own Rust code, the HTTP server and the event loop — and `(garbage
 * collector)`). Writes the raw `.cpuprofile` next to it with `--out FILE`
 * (opens in Chrome DevTools). Needed because `perf record` takes no sample
 * on this machine's kernel and the deno binary is stripped.
 *
 * @module
 */

import process from "node:process";
import { writeFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

/** The part of a CDP `Profiler.Profile` read here. */
export interface CpuProfile {
  /** Every call-tree node. */
  nodes: ProfileNode[];
  /** Start time, µs. */
  startTime: number;
  /** End time, µs. */
  endTime: number;
  /** The node of each sample. */
  samples?: number[];
}

/**
 * Profiles the inspector at `port` for `seconds`.
 */
export async function profileInspector(port: number, seconds: number): Promise<CpuProfile> {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const url = list[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (e: MessageEvent) => {
    const msg = JSON.parse(String(e.data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  };
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> => {
    const id = nextId++;
    const answered = new Promise<unknown>((resolve) => pending.set(id, resolve));
    ws.send(JSON.stringify({ id, method, params }));
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${method}: no answer`)), 30_000)
    );
    return Promise.race([answered, timeout]);
  };
  try {
    await call("Profiler.enable");
    await call("Profiler.setSamplingInterval", { interval: 500 });
    await call("Profiler.start");
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const { profile } = await call("Profiler.stop") as { profile: CpuProfile };
    return profile;
  } finally {
    ws.close();
  }
}

/**
 * The top `n` functions of `profile` by self time: `[percent, label]`.
 *
 * @example
 * ```ts
 * import { topSelf } from "./_cdp_profile.ts";
 * const top = topSelf({
 *   nodes: [{ id: 1, callFrame: { functionName: "(program)", url: "", lineNumber: 0 }, hitCount: 3 }],
 *   startTime: 0, endTime: 1, samples: [1, 1, 1],
 * }, 5);
 * console.assert(top[0]?.[0] === 100);
 * ```
 */
export function topSelf(profile: CpuProfile, n: number): [number, string][] {
  const byNode = new Map<number, number>();
  if (profile.samples !== undefined && profile.samples.length > 0) {
    for (const s of profile.samples) byNode.set(s, (byNode.get(s) ?? 0) + 1);
  } else {
    for (const node of profile.nodes) byNode.set(node.id, node.hitCount ?? 0);
  }
  const byLabel = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = byNode.get(node.id) ?? 0;
    if (hits === 0) continue;
    const f = node.callFrame;
    const file = f.url === "" ? "" : ` ${f.url.replace(/^.*\/(node_modules|work\/main)\//, "")}`;
    const label = `${f.functionName === "" ? "(anonymous)" : f.functionName}${file}`;
    byLabel.set(label, (byLabel.get(label) ?? 0) + hits);
    total += hits;
  }
  return [...byLabel].sort((a, b) => b[1] - a[1]).slice(0, n).map((
    [label, hits],
  ) => [Math.round((hits / total) * 1000) / 10, label]);
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf("--out");
  const out = outAt >= 0 ? args.splice(outAt, 2)[1] : undefined;
  const port = Number(args[0] ?? 9331);
  const seconds = Number(args[1] ?? 10);
  const profile = await profileInspector(port, seconds);
  if (out !== undefined) writeFileSync(out, JSON.stringify(profile));
  const samples = profile.samples?.length ?? 0;
  console.log(
    `${samples} samples over ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s`,
  );
  for (const [pct, label] of topSelf(profile, Number(args[2] ?? 25))) {
    console.log(`${pct.toFixed(1).padStart(5)}%  ${label}`);
  }
}
