// Runs examples/kv.ts (or any script) as a child process of the runtime that
// runs the tests, as the README does: `node_modules/.bin/deno run -A …` under
// deno test, `node_modules/.bin/bun run …` under bun test. Bounded helpers.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
export const KV: string = join(ROOT, "examples", "kv.ts");
export const IS_BUN: boolean = "Bun" in globalThis;
/** The runtime under test, as the README runs it. */
export const RUNTIME: string = join(ROOT, "node_modules", ".bin", IS_BUN ? "bun" : "deno");

/** A child process and its output. */
export interface Child {
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** The first stdout line matching `re` (or the next one after `after` matches); rejects at the deadline. */
  line(re: RegExp, ms?: number): Promise<string>;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` unless it exited. */
  kill(signal: "SIGINT" | "SIGTERM" | "SIGKILL"): void;
}

/** The env of a child: this process's without RAFT_* variables, plus `env`. */
export function childEnv(env: Record<string, string>): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("RAFT_")) clean[k] = v;
  }
  return { ...clean, ...env, NO_COLOR: "1" };
}

/** Runs `script` (default examples/kv.ts) with `args` under the runtime under test. */
export function run(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; script?: string } = {},
): Child {
  const script = options.script ?? KV;
  const runtimeArgs = IS_BUN ? ["run", script] : ["run", "-A", script];
  return spawnChild(RUNTIME, [...runtimeArgs, ...args], {
    env: childEnv(options.env ?? {}),
    cwd: options.cwd ?? ROOT,
  });
}

/**
 * Starts `binary` with `args` (in `cwd`, with exactly `env`) and collects its
 * output; `line` waits `lineTimeout` ms unless told otherwise (default 20 s).
 */
export function spawnChild(
  binary: string,
  args: readonly string[],
  options: { env: Record<string, string>; cwd: string; lineTimeout?: number },
): Child {
  const childEnv = options.env;
  const cwd = options.cwd;
  const lineTimeout = options.lineTimeout ?? 20_000;
  let done = false;
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of waiters) w();
  };
  const decoder = new TextDecoder();
  let exited: Promise<number | string>;
  let signal: (s: "SIGINT" | "SIGTERM" | "SIGKILL") => void;
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!IS_BUN && deno !== undefined) {
    // Deno's node:child_process reports a child that handled SIGTERM and
    // exited 0 as killed by the signal; Deno.Command reports the exit code.
    const child = new deno.Command(binary, {
      args: [...args],
      cwd,
      env: childEnv,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>, on: (s: string) => void) => {
      for await (const chunk of stream) on(decoder.decode(chunk, { stream: true }));
    };
    const pumped = Promise.all([
      pump(child.stdout, (s) => {
        out += s;
        wake();
      }),
      pump(child.stderr, (s) => {
        err += s;
      }),
    ]);
    exited = Promise.all([child.status, pumped]).then(([s]) => s.signal ?? s.code);
    signal = (s) => child.kill(s);
  } else {
    const child = spawn(binary, [...args], {
      cwd,
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d: Uint8Array) => {
      out += decoder.decode(d);
      wake();
    });
    child.stderr!.on("data", (d: Uint8Array) => {
      err += decoder.decode(d);
    });
    exited = new Promise<number | string>((resolve) => {
      child.on("close", (code, sig) => resolve(code ?? sig ?? -1));
    });
    signal = (s) => child.kill(s);
  }
  exited = exited.finally(() => {
    done = true;
    wake();
  });
  return {
    exited,
    stdout: () => out,
    stderr: () => err,
    kill: (s) => {
      if (!done) {
        try {
          signal(s);
        } catch {
          // Already gone.
        }
      }
    },
    line: (re, ms = lineTimeout) =>
      lineOf(re, ms, { out: () => out, err: () => err, done: () => done, waiters }),
  };
}

/** What {@linkcode lineOf} watches: a child's output so far, and whether it ended. */
interface Output {
  out(): string;
  err(): string;
  done(): boolean;
  /** Called (each) whenever stdout grows or the child ends. */
  readonly waiters: Set<() => void>;
}

/**
 * The first stdout line matching `re`, waiting for it (at most `ms`); rejects
 * with both outputs if none comes or the child ends without one.
 */
function lineOf(re: RegExp, ms: number, o: Output): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      o.waiters.delete(check);
      reject(new Error(`no line matching ${re} in ${ms} ms:\n${o.out()}\n${o.err()}`));
    }, ms);
    function check(): void {
      const found = o.out().split("\n").find((l) => re.test(l));
      if (found !== undefined || o.done()) {
        clearTimeout(timer);
        o.waiters.delete(check);
        if (found !== undefined) resolve(found);
        else reject(new Error(`exited without a line matching ${re}:\n${o.out()}\n${o.err()}`));
      }
    }
    o.waiters.add(check);
    check();
  });
}

/** `p`, or a rejection after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls `f` until it returns a value other than undefined; rejects after `ms`. */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = undefined;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${ms} ms${last !== undefined ? ` (${last})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The URL in a "listening on URL" line. */
export function urlOf(line: string): string {
  const m = /listening on (\S+)/.exec(line);
  if (m === null) throw new Error(`no URL in ${line}`);
  return m[1]!;
}

/** A fresh temporary directory, and its removal. */
export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Fetches `url` and reads its body: status, text, and JSON when it parses. */
export async function http(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; text: string; json: unknown; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000), ...init });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON.
  }
  return { status: res.status, text, json, headers: res.headers };
}
