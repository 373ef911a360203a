/**
 * Three local nodes of the key-value example (`examples/kv.ts`), each its own
 * process with its own data directory, started at once as a multi-node
 * cluster should be: node 1 with `--init --join <nodes 2 and 3>` (it forms
 * the cluster only once both answered and neither belongs to one — so node
 * 1, its data lost, never forms a second cluster: it is refused instead),
 * nodes 2 and 3 with `--join <node 1>`. On a later run the same command
 * lines restart the nodes on their data. Prints their URLs and their
 * output; Ctrl-C (SIGINT) or SIGTERM stops them all (each stops
 * gracefully) and exits.
 *
 * ```sh
 * deno task cluster                 # or: npm run cluster, bun run examples/cluster.ts
 * deno run -A examples/cluster.ts --runtime bun --base-port 22000 -- --secret s3cr3t
 * ```
 *
 * Flags: `--runtime deno|bun` (default: the one running this script),
 * `--nodes N` (default 3), `--base-port P` (node i listens on 127.0.0.1:P+i;
 * default 21000), `--data DIR` (node i keeps its data in DIR/node-i; default
 * ./data). Anything after `--` is passed to every node (e.g. `--secret`).
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

const _KV = fileURLToPath(new URL("./kv.ts", import.meta.url));
const _BIN = fileURLToPath(new URL("../node_modules/.bin/", import.meta.url));

interface _Options {
  runtime: "deno" | "bun";
  nodes: number;
  basePort: number;
  data: string;
  extra: string[];
}

function _parse(args: readonly string[]): _Options {
  const o: _Options = {
    runtime: "Bun" in globalThis ? "bun" : "deno",
    nodes: 3,
    basePort: 21000,
    data: "./data",
    extra: [],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      o.extra = args.slice(i + 1);
      break;
    }
    const value = args[++i];
    if (arg === "--runtime" && (value === "deno" || value === "bun")) o.runtime = value;
    else if (arg === "--nodes" && /^[1-9]$/.test(value ?? "")) o.nodes = Number(value);
    else if (arg === "--base-port" && /^\d{1,5}$/.test(value ?? "")) o.basePort = Number(value);
    else if (arg === "--data" && value) o.data = value;
    else {
      console.error(
        `cluster.ts: bad argument ${arg} ${value ?? ""} (usage: cluster.ts [--runtime deno|bun] ` +
          "[--nodes N] [--base-port P] [--data DIR] [-- node flags…])",
      );
      process.exit(2);
    }
  }
  return o;
}

/** Starts node `id`; resolves with its process once it printed its "listening on" line. */
function _start(o: _Options, id: number, children: Map<number, ChildProcess>): Promise<string> {
  const addr = `127.0.0.1:${o.basePort + id}`;
  const others = Array.from({ length: o.nodes - 1 }, (_, i) => `127.0.0.1:${o.basePort + i + 2}`);
  const role = id !== 1
    ? ["--join", `127.0.0.1:${o.basePort + 1}`]
    : others.length > 0
    ? ["--init", "--join", others.join(",")]
    : ["--init"];
  const args = [
    // Deno as deployed (docs/deploying.md): V8's young generation capped, ~40 MB less RSS.
    ...(o.runtime === "deno"
      ? ["run", "-A", "--v8-flags=--max-semi-space-size=2", _KV]
      : ["run", _KV]),
    ...["--id", String(id), "--addr", addr, "--data", `${o.data}/node-${id}`],
    ...role,
    ...o.extra,
  ];
  const child = spawn(_BIN + o.runtime, args, {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group: Ctrl-C reaches this script only, which stops it
  });
  children.set(id, child);
  return new Promise((resolve, reject) => {
    let listening = false;
    const relay = (stream: NodeJS.ReadableStream, to: NodeJS.WritableStream) => {
      let buffered = "";
      stream.on("data", (chunk: Uint8Array) => {
        buffered += new TextDecoder().decode(chunk);
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        for (const line of lines) {
          to.write(`[node ${id}] ${line}\n`);
          const m = /listening on (\S+)/.exec(line);
          if (m !== null && !listening) {
            listening = true;
            resolve(m[1]!);
          }
        }
      });
    };
    relay(child.stdout!, process.stdout);
    relay(child.stderr!, process.stderr);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      children.delete(id);
      if (!listening) reject(new Error(`node ${id} exited (${code ?? signal}) before listening`));
      else if (!stopping) console.error(`[node ${id}] exited (${code ?? signal})`);
    });
  });
}

let stopping = false;

/** SIGTERMs every node, waits for them (SIGKILL after 15 s), exits with `code`. */
async function _stopAll(children: Map<number, ChildProcess>, code: number): Promise<never> {
  stopping = true;
  const exits = [...children.values()].map((child) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.on("exit", () => resolve());
      child.kill("SIGTERM");
    })
  );
  const deadline = setTimeout(() => {
    for (const child of children.values()) child.kill("SIGKILL");
  }, 15_000);
  await Promise.all(exits);
  clearTimeout(deadline);
  process.exit(code);
}

async function _main(): Promise<void> {
  const o = _parse(process.argv.slice(2));
  const children = new Map<number, ChildProcess>();
  let interrupted = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      console.log("stopping the nodes…");
      void _stopAll(children, 0);
    });
  }
  const urls: string[] = [];
  try {
    // All at once: node 1 waits for the others to answer before it forms the cluster.
    const ids = Array.from({ length: o.nodes }, (_, i) => i + 1);
    urls.push(...await Promise.all(ids.map((id) => _start(o, id, children))));
  } catch (e) {
    console.error(`cluster.ts: ${e instanceof Error ? e.message : String(e)}`);
    await _stopAll(children, 1);
  }
  if (interrupted) return;
  console.log(
    `\n${o.nodes} nodes (${o.runtime}), data in ${o.data}/node-<id>:\n` +
      urls.map((url, i) => `  node ${i + 1}: ${url}`).join("\n") +
      `\n\ntry: curl -X PUT --data-binary hello ${urls[0]}/kv/greeting` +
      `\n     curl ${urls[urls.length - 1]}/kv/greeting\n\nCtrl-C stops them all.`,
  );
}

if (import.meta.main) await _main();
