/**
 * The load generator of the deployed benchmark, run in its OWN process (so
 * that its CPU is not the nodes' and the nodes' is not its): a fixed number
 * of clients, each one keep-alive connection doing one request at a time, in
 * a closed loop, against one HTTP endpoint — ours (`PUT /kv/:key`,
 * `GET /kv/:key`, `GET /kv/:key?read=lease`) or etcd's v3 JSON gateway
 * (`POST /v3/kv/put`, `POST /v3/kv/range`, serializable for the lease-read
 * analogue) — with the same client code for both.
 *
 * Client: `node:http` with a keep-alive `Agent` (`--client node-http`, the
 * default) or `fetch` (`--client fetch`); see `deployed_bench.ts` for the
 * choice. Both work under Deno and Bun.
 *
 * Protocol: one argument, a JSON {@linkcode LoadConfig}; prints `PREFILLED`
 * (after writing every key once, when asked), `START` when the warm-up ends
 * and the measured window begins, `END` when it ends, then
 * `RESULT <json of LoadResult>`. Every loop is bounded: by the window's end
 * and by a maximum number of requests per client; every request by a
 * 10 s timeout.
 *
 *   deno run -A bench/_load_generator.ts '{"target":"ours","port":22001,"op":"put",...}'
 *
 * @module
 */

import { Agent, request as httpRequest } from "node:http";
import { Buffer } from "node:buffer";
import process from "node:process";

/** What the load generator runs. */
export interface LoadConfig {
  /** Whose API: ours (`/kv/*`) or etcd's v3 JSON gateway. */
  readonly target: "ours" | "etcd";
  /** Host of the endpoint (127.0.0.1). */
  readonly host: string;
  /** Port of the endpoint (ours: the leader; etcd: the leader member's client port). */
  readonly port: number;
  /** PUT of a value, linearizable GET, or lease GET (etcd: serializable range). */
  readonly op: "put" | "get" | "lease";
  /** Concurrent clients (one connection each, one request at a time). */
  readonly clients: number;
  /** Seconds of load before the measured window (not reported). */
  readonly warmupSeconds: number;
  /** Seconds of the measured window. */
  readonly seconds: number;
  /** Keys are `k0000` … spread uniformly at random over this many. */
  readonly keys: number;
  /** Size of each value written, in bytes. */
  readonly valueBytes: number;
  /** HTTP client: `node:http` keep-alive Agent, or `fetch`. */
  readonly client: "node-http" | "fetch";
  /** Write every key once (16 at a time) before the warm-up. */
  readonly prefill: boolean;
}

/** What the load generator measured over the window. */
export interface LoadResult {
  /** Requests answered 2xx whose answer arrived within the window. */
  readonly ops: number;
  /** Requests answered otherwise (or failed) within the window. */
  readonly errors: number;
  /** Length of the window, in seconds. */
  readonly seconds: number;
  /** `ops / seconds`. */
  readonly opsPerSec: number;
  /** Latency percentiles of the 2xx requests, in ms. */
  readonly p50Ms: number;
  /** 99th percentile, in ms. */
  readonly p99Ms: number;
  /** 99.9th percentile, in ms. */
  readonly p999Ms: number;
  /** Slowest, in ms. */
  readonly maxMs: number;
  /** Answers by HTTP status (0: no answer: a connection error or timeout), warm-up included. */
  readonly statuses: Record<string, number>;
  /** Redirects followed (307: leadership moved), warm-up included. */
  readonly redirects: number;
  /** The port requests went to at the end (the leader's, if it moved). */
  readonly finalPort: number;
  /** CPU seconds the load generator itself used over the window (all threads). */
  readonly clientCpuSeconds: number;
}

const REQUEST_TIMEOUT_MS = 10_000;
const MAX_REQUESTS_PER_CLIENT = 50_000_000;
const MAX_SAMPLES = 4_000_000;

/** An answer: its status and, for a redirect, its `location`. */
interface Answer {
  readonly status: number;
  readonly location: string | null;
}

type Send = (key: number) => Promise<Answer>;

/** Where requests go; a 307 from ours (leadership moved) re-targets every client. */
interface Endpoint {
  host: string;
  port: number;
}

interface Shape {
  readonly method: string;
  readonly path: (key: number) => string;
  readonly body: (key: number) => string | null;
  readonly contentType: string;
}

function keyName(i: number): string {
  return "k" + String(i).padStart(4, "0");
}

function shapeOf(c: LoadConfig, op: LoadConfig["op"]): Shape {
  const value = "v".repeat(c.valueBytes);
  if (c.target === "ours") {
    const paths = Array.from({ length: c.keys }, (_, i) => `/kv/${keyName(i)}`);
    const leasePaths = paths.map((p) => p + "?read=lease");
    return {
      method: op === "put" ? "PUT" : "GET",
      path: op === "lease" ? (k) => leasePaths[k]! : (k) => paths[k]!,
      body: op === "put" ? () => value : () => null,
      contentType: "application/octet-stream",
    };
  }
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const value64 = b64(value);
  const bodies = Array.from({ length: c.keys }, (_, i) => {
    const key = b64(keyName(i));
    if (op === "put") return JSON.stringify({ key, value: value64 });
    if (op === "lease") return JSON.stringify({ key, serializable: true });
    return JSON.stringify({ key });
  });
  const path = op === "put" ? "/v3/kv/put" : "/v3/kv/range";
  return {
    method: "POST",
    path: () => path,
    body: (k) => bodies[k]!,
    contentType: "application/json",
  };
}

function nodeHttpSender(c: LoadConfig, shape: Shape, to: Endpoint): Send {
  const agent = new Agent({ keepAlive: true, maxSockets: c.clients, maxFreeSockets: c.clients });
  return (key) =>
    new Promise<Answer>((resolve, reject) => {
      const body = shape.body(key);
      const headers: Record<string, string> = body === null ? {} : {
        "content-type": shape.contentType,
        "content-length": String(Buffer.byteLength(body)),
      };
      const req = httpRequest(
        {
          host: to.host,
          port: to.port,
          method: shape.method,
          path: shape.path(key),
          agent,
          headers,
        },
        (res) => {
          res.on("data", () => {});
          res.once("end", () => {
            clearTimeout(timer);
            const location = res.headers.location;
            resolve({ status: res.statusCode ?? 0, location: location ?? null });
          });
          res.once("error", (e) => {
            clearTimeout(timer);
            reject(e);
          });
        },
      );
      const timer = setTimeout(() => req.destroy(new Error("timeout")), REQUEST_TIMEOUT_MS);
      req.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      if (body === null) req.end();
      else req.end(body);
    });
}

function fetchSender(shape: Shape, to: Endpoint): Send {
  return async (key) => {
    const body = shape.body(key);
    const res = await fetch(`http://${to.host}:${to.port}${shape.path(key)}`, {
      method: shape.method,
      body,
      headers: body === null ? {} : { "content-type": shape.contentType },
      redirect: "manual",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await res.arrayBuffer();
    return { status: res.status, location: res.headers.get("location") };
  };
}

function senderOf(c: LoadConfig, op: LoadConfig["op"], to: Endpoint): Send {
  const shape = shapeOf(c, op);
  return c.client === "fetch" ? fetchSender(shape, to) : nodeHttpSender(c, shape, to);
}

const MAX_REDIRECTS = 3;

/**
 * Sends one request for `key`, following up to 3 redirects (307 from ours:
 * leadership moved): the endpoint is re-targeted for every client, as a
 * client of ours would. Answers the final status; `onRedirect` counts.
 */
async function sendFollowing(
  send: Send,
  key: number,
  to: Endpoint,
  onRedirect: () => void,
): Promise<number> {
  let status = 0;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const a = await send(key);
    status = a.status;
    if (status !== 307 || a.location === null || hop === MAX_REDIRECTS) break;
    const url = new URL(a.location);
    to.host = url.hostname;
    to.port = Number(url.port);
    onRedirect();
  }
  return status;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function prefill(c: LoadConfig, to: Endpoint): Promise<void> {
  const send = senderOf(c, "put", to);
  let next = 0;
  const worker = async () => {
    while (next < c.keys) {
      const key = next++;
      let status = 0;
      for (let attempt = 0; attempt < 5 && (status < 200 || status >= 300); attempt++) {
        status = await sendFollowing(send, key, to, () => {}).catch(() => 0);
      }
      if (status < 200 || status >= 300) throw new Error(`prefill of key ${key}: status ${status}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, c.keys) }, worker));
}

/**
 * Runs `c`: optional prefill, warm-up, measured window. Prints `START` and
 * `END` at the window's edges (the harness reads the nodes' `/proc` then).
 */
export async function runLoad(c: LoadConfig): Promise<LoadResult> {
  const to: Endpoint = { host: c.host, port: c.port };
  if (c.prefill) {
    await prefill(c, to);
    process.stdout.write("PREFILLED\n");
  }
  const send = senderOf(c, c.op, to);
  let redirects = 0;
  const onRedirect = () => redirects++;
  const samples = new Float64Array(MAX_SAMPLES);
  let recorded = 0;
  let ops = 0;
  let errors = 0;
  const statuses: Record<string, number> = {};
  const t0 = performance.now();
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let cpuStart = 0;
  let cpuEnd = 0;
  const stopAt = t0 + (c.warmupSeconds + c.seconds) * 1000;
  const opened = new Promise<void>((resolve) => {
    setTimeout(() => {
      windowStart = performance.now();
      cpuStart = cpuNow();
      process.stdout.write("START\n");
      resolve();
    }, c.warmupSeconds * 1000);
  });
  const closed = opened.then(() =>
    new Promise<void>((resolve) => {
      setTimeout(() => {
        windowEnd = performance.now();
        cpuEnd = cpuNow();
        process.stdout.write("END\n");
        resolve();
      }, Math.max(0, stopAt - performance.now()));
    })
  );
  const client = async () => {
    for (let n = 0; n < MAX_REQUESTS_PER_CLIENT; n++) {
      const start = performance.now();
      if (start >= stopAt || start >= windowEnd) return;
      const key = Math.floor(Math.random() * c.keys);
      let status = 0;
      try {
        status = await sendFollowing(send, key, to, onRedirect);
      } catch {
        status = 0;
      }
      const end = performance.now();
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (end < windowStart || end > windowEnd) continue;
      if (status >= 200 && status < 300) {
        ops++;
        if (recorded < MAX_SAMPLES) samples[recorded++] = end - start;
      } else {
        errors++;
        // A refused request answers at once: do not spin on it.
        if (status === 0 || status >= 500) await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all([closed, ...Array.from({ length: c.clients }, client)]);
  const sorted = samples.subarray(0, recorded).sort();
  const seconds = (windowEnd - windowStart) / 1000;
  return {
    ops,
    errors,
    seconds,
    opsPerSec: ops / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    p999Ms: percentile(sorted, 0.999),
    maxMs: recorded > 0 ? sorted[recorded - 1]! : NaN,
    statuses,
    redirects,
    finalPort: to.port,
    clientCpuSeconds: cpuEnd - cpuStart,
  };
}

if (import.meta.main) {
  const config = JSON.parse(process.argv.at(-1) ?? "{}") as LoadConfig;
  try {
    const result = await runLoad(config);
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  } catch (e) {
    process.stderr.write(`load generator: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
