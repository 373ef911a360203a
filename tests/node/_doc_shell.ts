// Runs the shell commands of the operator pages (docs/deploying.md, docs/operating.md) as
// written, with `bash -c`, after moving them onto this machine: the hosts 10.0.0.N:21001
// become 127.0.0.1 on free ports, /etc/raft and /var/lib/raft become temp directories.
// Deno only (Deno.Command reports a child's own exit code after SIGTERM; node:child_process
// under Deno does not): the commands start `deno`, whichever runner runs the tests.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT, within } from "./_process.ts";

/** Where the documented hosts live on this machine. */
export interface DocHosts {
  /** The temp directory everything goes under. */
  readonly dir: string;
  /** Port of documented host 10.0.0.N (index N). */
  readonly ports: readonly number[];
}

/** A free port on 127.0.0.1 (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `n` hosts (10.0.0.1 … 10.0.0.n) on free ports under `dir`. */
export async function docHosts(dir: string, n: number): Promise<DocHosts> {
  const ports = [0];
  for (let i = 1; i <= n; i++) {
    let port = await freePort();
    while (ports.includes(port)) port = await freePort();
    ports.push(port);
  }
  mkdirSync(join(dir, "etc-raft"), { recursive: true });
  for (let i = 1; i <= n; i++) mkdirSync(join(dir, `host-${i}`), { recursive: true });
  return { dir, ports };
}

/**
 * `command` as it runs on host `host` of this machine: every `10.0.0.N:21001` is
 * 127.0.0.1 and the port of host N, `IP:10.0.0.N` (a certificate's SAN) is 127.0.0.1,
 * `/etc/raft` is shared, `/var/lib/raft` and `/var/backups/raft` are the host's own.
 */
export function onHost(hosts: DocHosts, host: number, command: string): string {
  return command
    .replace(/10\.0\.0\.(\d+):21001/g, (_all, n: string) => {
      const port = hosts.ports[Number(n)];
      assert.ok(port !== undefined, `no host 10.0.0.${n} in this test`);
      return `127.0.0.1:${port}`;
    })
    .replace(/IP:10\.0\.0\.\d+/g, "IP:127.0.0.1")
    .replaceAll("/etc/raft", join(hosts.dir, "etc-raft"))
    .replaceAll("/var/lib/raft", join(hosts.dir, `host-${host}`, "var-lib-raft"))
    .replaceAll("/var/backups/raft", join(hosts.dir, `host-${host}`, "var-backups-raft"));
}

/** A `bash -c` process and its output. */
export interface Shell {
  readonly exited: Promise<number | string>;
  stdout(): string;
  stderr(): string;
  /** The first stdout line matching `re`; rejects at the deadline or when it exits without. */
  line(re: RegExp, ms?: number): Promise<string>;
  kill(signal: "SIGTERM" | "SIGKILL"): void;
}

interface _DenoChild {
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly status: Promise<{ code: number; signal: string | null }>;
  kill(signal: string): void;
}

interface _DenoApi {
  Command: new (cmd: string, options: {
    args: string[];
    cwd: string;
    env: Record<string, string>;
    clearEnv: boolean;
    stdin: "null";
    stdout: "piped";
    stderr: "piped";
  }) => { spawn(): _DenoChild };
}

/** The environment of the commands: PATH with node_modules/.bin first, no RAFT_* variables. */
function _env(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("RAFT_")) env[k] = v;
  }
  env.PATH = `${join(ROOT, "node_modules", ".bin")}:${env.PATH ?? "/usr/bin:/bin"}`;
  env.NO_COLOR = "1";
  return env;
}

/** Runs `command` with `bash -c` in `cwd` (default: the checkout, where `examples/` is). */
export function shell(command: string, cwd: string = ROOT): Shell {
  const deno = (globalThis as { Deno?: _DenoApi }).Deno;
  if (deno === undefined) throw new Error("doc shell commands run under Deno only");
  const child = new deno.Command("bash", {
    args: ["-c", command],
    cwd,
    env: _env(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  let done = false;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of waiters) w();
  };
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>, on: (s: string) => void) => {
    for await (const chunk of stream) on(decoder.decode(chunk, { stream: true }));
  };
  const exited = Promise.all([
    child.status,
    pump(child.stdout, (s) => {
      out += s;
      wake();
    }),
    pump(child.stderr, (s) => {
      err += s;
    }),
  ]).then(([s]) => s.signal ?? s.code).finally(() => {
    done = true;
    wake();
  });
  return {
    exited,
    stdout: () => out,
    stderr: () => err,
    kill: (signal) => {
      if (done) return;
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
    },
    line: (re, ms = 30_000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no line matching ${re} in ${ms} ms:\n${out}\n${err}`));
        }, ms);
        function check(): void {
          const found = out.split("\n").find((l) => re.test(l));
          if (found !== undefined || done) {
            clearTimeout(timer);
            waiters.delete(check);
            if (found !== undefined) resolve(found);
            else reject(new Error(`exited without a line matching ${re}:\n${out}\n${err}`));
          }
        }
        waiters.add(check);
        check();
      }),
  };
}

/** Runs a short command to its end (bounded); asserts exit 0; resolves with its stdout. */
export async function runToEnd(command: string, cwd?: string, ms = 30_000): Promise<string> {
  const sh = shell(command, cwd);
  let code: number | string;
  try {
    code = await within(sh.exited, ms, command);
  } catch (e) {
    sh.kill("SIGKILL");
    await sh.exited;
    throw e;
  }
  assert.equal(code, 0, `${command}\nexited ${code}:\n${sh.stdout()}\n${sh.stderr()}`);
  return sh.stdout();
}
