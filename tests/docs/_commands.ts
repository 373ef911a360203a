// Runs the sh commands of the docs as written, for the tests that carry their
// `// exercises:` markers: each command goes to `sh -c` from the checkout's root with
// node_modules/.bin first on PATH (as the docs tell users to set up). The documented
// fixed addresses (127.0.0.1:21001 …) are mapped to free ports before running, and data
// directories go to a temp dir through RAFT_DATA: tests never bind fixed ports.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { ROOT } from "./_doc_blocks.ts";
import { freePort } from "../../chaos/node_placement.ts";

export { freePort };

/** Maps documented addresses (`127.0.0.1:21001`) to the free ports a test uses. */
export class Ports {
  readonly #map = new Map<number, number>();

  /** Gives each documented port (e.g. 21001) a free one. */
  static async of(documented: readonly number[]): Promise<Ports> {
    const ports = new Ports();
    for (const p of documented) ports.#map.set(p, await freePort());
    return ports;
  }

  /** The free port standing in for `documented`. */
  port(documented: number): number {
    const p = this.#map.get(documented);
    if (p === undefined) throw new Error(`no port mapped for ${documented}`);
    return p;
  }

  /** `command` with every `127.0.0.1:<documented port>` replaced by its free port. */
  apply(command: string): string {
    return command.replace(/127\.0\.0\.1:(\d+)/g, (all, p: string) => {
      const mapped = this.#map.get(Number(p));
      return mapped === undefined ? all : `127.0.0.1:${mapped}`;
    });
  }
}

/** The environment commands run in: this one's without RAFT_*, node_modules/.bin first. */
function _env(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("RAFT_")) env[k] = v;
  }
  env.PATH = `${join(ROOT, "node_modules", ".bin")}${delimiter}${env.PATH ?? ""}`;
  env.NO_COLOR = "1";
  return { ...env, ...extra };
}

/** A long-running command (a node), in its own process group. */
export interface Background {
  /** The first output line (stdout or stderr) matching `re`; rejects after `ms` or on exit. */
  line(re: RegExp, ms?: number): Promise<string>;
  /** Everything printed so far. */
  output(): string;
  /** Resolves with the exit code once it exits by itself; rejects after `ms`. */
  exit(ms?: number): Promise<number | string>;
  /** Sends SIGINT to its process group and resolves with the exit code (SIGKILL after `ms`). */
  stop(ms?: number): Promise<number | string>;
}

/** Starts `command` with `sh -c`, in its own process group (so a stop reaches npm's children). */
export function background(command: string, env: Record<string, string> = {}): Background {
  const child = spawn("sh", ["-c", command], {
    cwd: ROOT,
    env: _env(env),
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let exitValue: number | string | null = null;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  const decoder = new TextDecoder();
  child.stdout!.on("data", (d: Uint8Array) => {
    out += decoder.decode(d);
    wake();
  });
  child.stderr!.on("data", (d: Uint8Array) => {
    out += decoder.decode(d);
    wake();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once("close", (code: number | null, signal: string | null) => {
      exitValue = code ?? signal ?? "unknown";
      resolve(exitValue);
      wake();
    });
  });
  const group = (signal: "SIGINT" | "SIGKILL") => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  return {
    line(re, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = out.split("\n").find((l) => re.test(l));
          if (found !== undefined) done(() => resolve(found));
          else if (exitValue !== null) {
            done(() => reject(new Error(`exited (${exitValue}) before ${re}:\n${out}`)));
          }
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no line ${re} within ${ms} ms:\n${out}`))),
          ms,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    output: () => out,
    exit(ms = 30_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running after ${ms} ms:\n${out}`)), ms);
      });
      return Promise.race([exited, late]).finally(() => clearTimeout(timer));
    },
    async stop(ms = 15_000) {
      if (exitValue !== null) return exitValue;
      group("SIGINT");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          group("SIGKILL");
          resolve();
        }, ms);
      });
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      return await exited;
    },
  };
}

/** Runs a short command with `sh -c` (at most `ms`); resolves with its exit code and stdout. */
export function run(
  command: string,
  ms = 30_000,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", command], {
      cwd: ROOT,
      env: _env({}),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const decoder = new TextDecoder();
    child.stdout!.on("data", (d: Uint8Array) => (stdout += decoder.decode(d)));
    child.stderr!.on("data", (d: Uint8Array) => (stderr += decoder.decode(d)));
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.once("error", reject);
    child.once("close", (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? "unknown", stdout, stderr });
    });
  });
}

/** A temp dir, and its removal (and that of one of its entries). */
export function tempDir(
  prefix: string,
): { path: string; remove(): void; removeSub(name: string): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    remove: () => rmSync(path, { recursive: true, force: true }),
    removeSub: (name) => rmSync(join(path, name), { recursive: true, force: true }),
  };
}
