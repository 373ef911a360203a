/**
 * Micro-benchmark of issue 16's lead "one fetch per append batch vs. a
 * long-lived streamed connection per peer": what one small message costs
 * (round trip and CPU, client and server together) when each is its own
 * `fetch` POST, and when all go as frames of one full-duplex streamed
 * request (`duplex: "half"`, the server echoing each frame on its streamed
 * response as it arrives).
 *
 *   deno run -A bench/peer_stream_bench.ts
 *   bun bench/peer_stream_bench.ts
 *
 * Server and client share one process and one thread (as a node's own
 * server and its sends to peers do), on 127.0.0.1; messages are 300 bytes
 * (an append of one 256-byte write), sent one at a time. Prints one line
 * per way and one JSON line.
 *
 * @module
 */

import process from "node:process";

const FRAME = new Uint8Array(300).fill(7);
const WARMUP = 300;
const MESSAGES = 3000;

interface Measured {
  readonly roundTripUs: number;
  readonly cpuUs: number;
}

type Handler = (req: Request) => Response | Promise<Response>;

interface Server {
  readonly url: string;
  stop(): Promise<void>;
}

interface BunLike {
  serve(o: { port: number; hostname: string; fetch: Handler }): {
    port: number;
    stop(force?: boolean): void;
  };
}

interface DenoLike {
  serve(
    o: { port: number; hostname: string; onListen(): void },
    h: Handler,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}

function serve(handler: Handler): Server {
  if ("Bun" in globalThis) {
    const bun = (globalThis as unknown as { Bun: BunLike }).Bun;
    const s = bun.serve({ port: 0, hostname: "127.0.0.1", fetch: handler });
    return {
      url: `http://127.0.0.1:${s.port}/`,
      stop: () => Promise.resolve(s.stop(true)),
    };
  }
  const deno = (globalThis as unknown as { Deno: DenoLike }).Deno;
  const s = deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, handler);
  return { url: `http://127.0.0.1:${s.addr.port}/`, stop: () => s.shutdown() };
}

async function measure(n: number, one: () => Promise<void>): Promise<Measured> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await one();
  const cpu = process.cpuUsage(cpu0);
  return {
    roundTripUs: (performance.now() - t0) * 1000 / n,
    cpuUs: (cpu.user + cpu.system) / n,
  };
}

/** Each message its own POST; the server reads it whole and answers 40 bytes. */
async function fetchPerMessage(): Promise<Measured> {
  const server = serve(async (req) => {
    await req.arrayBuffer();
    return new Response(new Uint8Array(40));
  });
  const one = async () => {
    const res = await fetch(server.url, { method: "POST", body: FRAME });
    await res.arrayBuffer();
  };
  await measure(WARMUP, one);
  const m = await measure(MESSAGES, one);
  await server.stop();
  return m;
}

/** One streamed request; each frame written, then its echo awaited on the response. */
async function oneStream(): Promise<Measured> {
  const server = serve((req) => {
    const reader = req.body!.getReader();
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(c) {
          // The client closing its side ends the echo (Deno reports it as an error).
          const read = await reader.read().catch(() => ({ done: true as const, value: undefined }));
          if (read.done) c.close();
          else c.enqueue(read.value);
        },
      }),
    );
  });
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  // A first frame goes with the request, so that the server answers at once.
  controller.enqueue(FRAME);
  const init: RequestInit & { duplex: "half" } = { method: "POST", body, duplex: "half" };
  const res = await fetch(server.url, init);
  const reader = res.body!.getReader();
  let pending = FRAME.length;
  const echoed = async () => {
    while (pending > 0) {
      const { done, value } = await reader.read();
      if (done) throw new Error("the stream ended early");
      pending -= value.byteLength;
    }
  };
  await echoed();
  const one = async () => {
    pending += FRAME.length;
    controller.enqueue(FRAME);
    await echoed();
  };
  await measure(WARMUP, one);
  const m = await measure(MESSAGES, one);
  controller.close();
  await reader.cancel().catch(() => {});
  await server.stop();
  return m;
}

const runtime = "Bun" in globalThis
  ? `bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`;
const perFetch = await fetchPerMessage();
const streamed = await oneStream();
const line = (name: string, m: Measured) =>
  `${name.padEnd(18)} round trip ${m.roundTripUs.toFixed(0).padStart(4)} µs   cpu ${
    m.cpuUs.toFixed(0).padStart(4)
  } µs per message`;
console.log(`${runtime}, ${MESSAGES} messages of ${FRAME.length} bytes, one at a time`);
console.log(line("fetch per message", perFetch));
console.log(line("one duplex stream", streamed));
console.log(
  JSON.stringify({ bench: "peer-stream", runtime, fetchPerMessage: perFetch, oneStream: streamed }),
);
process.exit(0);
