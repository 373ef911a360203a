// Every ```ts block of every docs/*.md page is a complete module: this test maps its
// `jsr:@x/raft…` specifiers to this checkout's files (deno.json "exports"), writes it
// to .tmp/, type-checks it with `deno check`, and runs it in-process (imports it), one
// test case per block, under deno test and under bun test. Directives, in an HTML
// comment on the line right before a block:
//   <!-- snippet: check-only -->  type-checked, not run (for a block that cannot finish)
//   <!-- snippet: deno-only -->   runs only under Deno (skipped, and named so, under Bun)
//   <!-- snippet: bun-only -->    runs only under Bun (skipped, and named so, under Deno)
// `<!-- snippet: skip -->` and any other directive fail. A block must finish within 20 s
// and clean up after itself; what it prints is captured and shown only if it fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import {
  type CodeBlock,
  docPages,
  IS_BUN,
  mapSpecifiers,
  packageExports,
  readPage,
  ROOT,
  RUNTIME,
  TS_LANGS,
} from "./_doc_blocks.ts";

const RUN_MS = 20_000;
const DENO = join(ROOT, "node_modules", ".bin", "deno");
const RUN_ID = `${process.pid}-${Date.now()}`;
const exports = packageExports();

/** The file name of a block's module: `<page>_L<line>.ts`, readable in stack traces. */
function fileName(block: CodeBlock): string {
  return `${block.page.replaceAll("/", "_").replace(/\.md$/, "")}_L${block.line}.ts`;
}

/** The block's code with its specifiers mapped, or the error saying why it cannot be. */
function mapped(block: CodeBlock): { code: string } | { error: string } {
  try {
    return {
      code: mapSpecifiers(block.code, exports, { allowOtherJsr: block.directive === "deno-only" }),
    };
  } catch (e) {
    return { error: `${block.page}:${block.line}: ${(e as Error).message}` };
  }
}

/** Rewrites `<file url>:<line>` of a block's module to `<page>:<page line>`. */
function toPageLines(text: string, url: string, block: CodeBlock): string {
  const escaped = url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return text.replace(
    new RegExp(`${escaped}:(\\d+)`, "g"),
    (_all, n: string) => `${block.page}:${block.line + Number(n)}`,
  );
}

const blocks: CodeBlock[] = [];
const problems: { page: string; line: number; message: string }[] = [];
for (const page of docPages()) {
  const parsed = readPage(page);
  problems.push(...parsed.problems);
  blocks.push(...parsed.blocks.filter((b) => TS_LANGS.includes(b.lang)));
}

/** Which blocks `deno check` looks at: all but bun-only under Deno; check-only under Bun. */
function checked(block: CodeBlock): boolean {
  if (IS_BUN) return block.directive === "check-only";
  return block.directive !== "bun-only";
}

/** Runs `deno check` on the modules at `urls`; resolves with its exit code and output. */
function denoCheck(urls: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const paths = urls.map((u) => fileURLToPath(u));
    const child = spawn(DENO, ["check", "--quiet", ...paths], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const decoder = new TextDecoder();
    child.stdout.on("data", (d: Uint8Array) => (output += decoder.decode(d)));
    child.stderr.on("data", (d: Uint8Array) => (output += decoder.decode(d)));
    child.once("error", reject);
    child.once("close", (code: number | null) => resolve({ code, output }));
  });
}

let checkRun: Promise<Map<CodeBlock, string>> | undefined;

/**
 * Type-checks every block `checked` selects in one `deno check` (one process, not one
 * per block) and returns the diagnostics of each block that has any.
 */
function typeCheck(): Promise<Map<CodeBlock, string>> {
  checkRun ??= (async () => {
    const dir = join(ROOT, ".tmp", `docs-check-${RUN_ID}`);
    const files = new Map<string, CodeBlock>();
    mkdirSync(dir, { recursive: true });
    try {
      for (const block of blocks) {
        if (block.directiveError !== null || !checked(block)) continue;
        const m = mapped(block);
        if ("error" in m) continue;
        const path = join(dir, fileName(block));
        writeFileSync(path, m.code);
        files.set(pathToFileURL(path).href, block);
      }
      const found = new Map<CodeBlock, string>();
      if (files.size === 0) return found;
      // A module deno check cannot load (say, an npm package not installed) stops the
      // whole check before any type error: those blocks are set aside and the rest are
      // checked again (at most once per block).
      let remaining = new Map(files);
      while (remaining.size > 0) {
        const { code, output } = await denoCheck([...remaining.keys()]);
        if (code === 0) break;
        const hit = new Set<string>();
        for (const chunk of output.split(/\n\s*\n/)) {
          for (const [url, block] of remaining) {
            if (!chunk.includes(url)) continue;
            hit.add(url);
            const text = toPageLines(chunk.trim(), url, block);
            found.set(block, found.has(block) ? `${found.get(block)}\n\n${text}` : text);
          }
        }
        if (hit.size === 0) {
          for (const block of remaining.values()) found.set(block, `deno check failed:\n${output}`);
          break;
        }
        if (/\bTS\d+ \[ERROR\]/.test(output)) break; // type errors: all were reported
        remaining = new Map([...remaining].filter(([url]) => !hit.has(url)));
      }
      return found;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return checkRun;
}

const METHODS = ["log", "info", "debug", "warn", "error"] as const;

/** Imports the module at `url` with console output captured; rejects after RUN_MS. */
async function runModule(url: string): Promise<{ error: unknown; printed: string }> {
  const saved = METHODS.map((m) => console[m]);
  let printed = "";
  for (const m of METHODS) {
    console[m] = (...args: unknown[]) => {
      printed += `${m}: ${args.map((a) => typeof a === "string" ? a : inspect(a)).join(" ")}\n`;
    };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      import(url),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`did not finish within ${RUN_MS / 1000} s`)),
          RUN_MS,
        );
      }),
    ]);
    return { error: null, printed };
  } catch (error) {
    return { error, printed };
  } finally {
    clearTimeout(timer);
    METHODS.forEach((m, i) => (console[m] = saved[i]!));
  }
}

for (const problem of problems) {
  test(`docs snippets: ${problem.page}:${problem.line}: directive`, () => {
    assert.fail(problem.message);
  });
}

for (const block of blocks) {
  const skipped = (block.directive === "deno-only" && IS_BUN) ||
    (block.directive === "bun-only" && !IS_BUN);
  const label = block.directive === null
    ? ""
    : ` (${block.directive}${skipped ? `: skipped under ${RUNTIME}` : ""})`;
  test(
    `docs snippets: ${block.page}:${block.line}${label}`,
    { timeout: 120_000, ...(skipped ? { skip: `${block.directive}` } : {}) },
    async () => {
      if (block.directiveError !== null) assert.fail(block.directiveError);
      const m = mapped(block);
      if ("error" in m) assert.fail(m.error);
      if (checked(block)) {
        const diagnostics = (await typeCheck()).get(block);
        if (diagnostics !== undefined) {
          assert.fail(
            `${block.page}:${block.line}: the block does not type-check:\n${diagnostics}`,
          );
        }
      }
      if (block.directive === "check-only") return;
      const dir = join(ROOT, ".tmp", `docs-run-${RUN_ID}`);
      mkdirSync(dir, { recursive: true });
      const path = join(dir, fileName(block));
      writeFileSync(path, m.code);
      const url = pathToFileURL(path).href;
      try {
        const { error, printed } = await runModule(url);
        if (error !== null) {
          const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
          assert.fail(
            `${block.page}:${block.line}: the block failed under ${RUNTIME}:\n${
              toPageLines(detail, url, block)
            }${printed === "" ? "" : `\nit printed:\n${printed}`}`,
          );
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}
