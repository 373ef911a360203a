/**
 * The process a node runs in, on Deno or Bun: arguments, environment,
 * signals, exit. Private to `node/`.
 *
 * @module
 */

/** What a node's `main` needs from its process. */
export interface ProcessHost {
  /** Command-line arguments after the script. */
  readonly args: readonly string[];
  /** An environment variable. */
  env(name: string): string | undefined;
  /** Calls `handler` on SIGINT and SIGTERM. */
  onSignal(handler: (signal: "SIGINT" | "SIGTERM") => void): void;
  /** Exits with `code`. */
  exit(code: number): never;
}

interface _Deno {
  readonly args: readonly string[];
  readonly env: { get(name: string): string | undefined };
  addSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  exit(code?: number): never;
}

interface _Bun {
  readonly argv: readonly string[];
  readonly env: Record<string, string | undefined>;
}

interface _Process {
  on(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  exit(code?: number): never;
}

/** The host process: Bun (checked first), then Deno; throws elsewhere. */
export function processHost(): ProcessHost {
  const g = globalThis as unknown as { Bun?: _Bun; Deno?: _Deno; process?: _Process };
  const { Bun, Deno, process } = g;
  if ("Bun" in globalThis && Bun !== undefined && process !== undefined) {
    return {
      args: Bun.argv.slice(2),
      env: (name) => Bun.env[name],
      onSignal: (handler) => {
        process.on("SIGINT", () => handler("SIGINT"));
        process.on("SIGTERM", () => handler("SIGTERM"));
      },
      exit: (code) => process.exit(code),
    };
  }
  if (Deno !== undefined) {
    return {
      args: Deno.args,
      env: (name) => Deno.env.get(name),
      onSignal: (handler) => {
        Deno.addSignalListener("SIGINT", () => handler("SIGINT"));
        Deno.addSignalListener("SIGTERM", () => handler("SIGTERM"));
      },
      exit: (code) => Deno.exit(code),
    };
  }
  throw new Error("a node runs under Deno or Bun");
}
