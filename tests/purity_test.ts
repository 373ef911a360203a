/**
 * Guards two architectural rules by reading the sources:
 * - `src/**` and `mod.ts` use Web APIs only: no `node:`/`bun:` imports, no `Deno`/`Bun` globals;
 * - `src/engine/**` is pure and deterministic: no time, randomness, timers, promises or async.
 *
 * The checker strips comments and string contents with a small tokenizer (so
 * prose in JSDoc does not trip it and `"http://x"` does not hide the code after
 * it), and is itself tested on inline sources below: a checker that cannot
 * fail would be worse than none.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

// ---------------------------------------------------------------- tokenizer

interface Scanned {
  /** The source with comments removed and string/template/regex contents blanked. */
  readonly code: string;
  /** Contents of string literals and template chunks, with their line numbers. */
  readonly strings: readonly { readonly value: string; readonly line: number }[];
}

const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "instanceof",
  "case",
  "do",
  "else",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "yield",
  "await",
]);

/** Whether a `/` at this point starts a regex literal (rather than dividing). */
function regexAllowed(codeSoFar: string): boolean {
  const trimmed = codeSoFar.trimEnd();
  if (trimmed === "") return true;
  const last = trimmed[trimmed.length - 1]!;
  if (/[\w$]/.test(last)) {
    const word = /[A-Za-z_$][\w$]*$/.exec(trimmed)?.[0] ?? "";
    return REGEX_AFTER_WORD.has(word);
  }
  return !")]}".includes(last) && !/["'`]/.test(last);
}

function scan(src: string): Scanned {
  let code = "";
  const strings: { value: string; line: number }[] = [];
  let line = 1;
  let i = 0;
  // One entry per open `${`: how many `{` deep we are inside that expression.
  const templateDepth: number[] = [];

  const readTemplateChunk = (): void => {
    // At the character after "`" or after the "}" closing a `${`.
    let value = "";
    while (i < src.length) {
      const ch = src[i]!;
      if (ch === "\\") {
        value += src[i + 1] ?? "";
        i += 2;
        continue;
      }
      if (ch === "`") {
        strings.push({ value, line });
        code += "`";
        i++;
        return;
      }
      if (ch === "$" && src[i + 1] === "{") {
        strings.push({ value, line });
        code += "${";
        i += 2;
        templateDepth.push(0);
        return;
      }
      if (ch === "\n") {
        line++;
        code += "\n";
      }
      value += ch;
      i++;
    }
  };

  while (i < src.length) {
    const ch = src[i]!;
    const next = src[i + 1];
    if (ch === "\n") {
      line++;
      code += ch;
      i++;
    } else if (ch === "/" && next === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (ch === "/" && next === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end === -1 ? src.length : end + 2;
      const newlines = src.slice(i, stop).split("\n").length - 1;
      line += newlines;
      code += newlines > 0 ? "\n".repeat(newlines) : " ";
      i = stop;
    } else if (ch === '"' || ch === "'") {
      let value = "";
      i++;
      while (i < src.length && src[i] !== ch && src[i] !== "\n") {
        if (src[i] === "\\") {
          value += src[i + 1] ?? "";
          i += 2;
        } else {
          value += src[i];
          i++;
        }
      }
      i++;
      strings.push({ value, line });
      code += ch + ch;
    } else if (ch === "`") {
      code += "`";
      i++;
      readTemplateChunk();
    } else if (ch === "{" && templateDepth.length > 0) {
      templateDepth[templateDepth.length - 1]!++;
      code += ch;
      i++;
    } else if (ch === "}" && templateDepth.length > 0) {
      if (templateDepth[templateDepth.length - 1] === 0) {
        templateDepth.pop();
        code += "}";
        i++;
        readTemplateChunk();
      } else {
        templateDepth[templateDepth.length - 1]!--;
        code += ch;
        i++;
      }
    } else if (ch === "/" && regexAllowed(code)) {
      // A regex literal: skip to the closing unescaped "/" outside a class.
      i++;
      let inClass = false;
      while (i < src.length && src[i] !== "\n") {
        const c = src[i]!;
        if (c === "\\") i += 2;
        else {
          if (c === "[") inClass = true;
          else if (c === "]") inClass = false;
          else if (c === "/" && !inClass) break;
          i++;
        }
      }
      i++;
      while (i < src.length && /[a-z]/.test(src[i]!)) i++;
      code += "/ /";
    } else {
      code += ch;
      i++;
    }
  }
  return { code, strings };
}

// ------------------------------------------------------------------ checkers

/** A rule broken at a line of a source. */
interface Violation {
  readonly line: number;
  readonly what: string;
}

function codeMatches(code: string, pattern: RegExp, what: string): Violation[] {
  const found: Violation[] = [];
  const re = new RegExp(pattern.source, "g");
  for (let m = re.exec(code); m !== null; m = re.exec(code)) {
    found.push({ line: code.slice(0, m.index).split("\n").length, what: `${what}: ${m[0]}` });
  }
  return found;
}

/** Violations of "Web APIs only": node:/bun: modules, the Deno and Bun globals. */
function portabilityViolations(source: string): Violation[] {
  const { code, strings } = scan(source);
  const found: Violation[] = [];
  for (const s of strings) {
    if (/^(node|bun):[\w/.-]*$/.test(s.value)) {
      found.push({ line: s.line, what: `imports a runtime module: "${s.value}"` });
    }
    if (s.value === "Deno" || s.value === "Bun") {
      found.push({ line: s.line, what: `names the ${s.value} global: "${s.value}"` });
    }
  }
  found.push(...codeMatches(code, /\b(Deno|Bun)\b/, "uses a runtime global"));
  return found.sort((a, b) => a.line - b.line);
}

const ENGINE_FORBIDDEN: readonly [RegExp, string][] = [
  [/\bDate\b/, "reads the wall clock"],
  [/\bMath\s*\.\s*random\b/, "uses unseeded randomness"],
  [/\bcrypto\b/, "uses crypto"],
  [/\bperformance\b/, "reads the clock"],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, "schedules work"],
  [/\bPromise\b/, "uses promises"],
  [/\basync\b/, "is async"],
  [/\bawait\b/, "awaits"],
];

/** Violations of "the engine is pure, synchronous and deterministic". */
function engineViolations(source: string): Violation[] {
  const { code } = scan(source);
  const found: Violation[] = [];
  for (const [pattern, what] of ENGINE_FORBIDDEN) found.push(...codeMatches(code, pattern, what));
  return found.sort((a, b) => a.line - b.line);
}

// --------------------------------------------------------------- the sources

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function tsFilesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFilesUnder(path));
    else if (/\.(ts|tsx|mts|cts)$/.test(name)) out.push(path);
  }
  return out;
}

function report(files: string[], check: (source: string) => Violation[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    for (const v of check(readFileSync(file, "utf8"))) {
      problems.push(`${relative(ROOT, file)}:${v.line}: ${v.what}`);
    }
  }
  return problems;
}

// ------------------------------------------------------- the rules, enforced

test("purity: src/ and mod.ts use Web APIs only (no node:, bun:, Deno or Bun)", () => {
  const files = [...tsFilesUnder(join(ROOT, "src")), join(ROOT, "mod.ts")].filter(existsSync);
  const problems = report(files, portabilityViolations);
  assert.deepEqual(
    problems,
    [],
    `runtime-specific code belongs in adapters/:\n${problems.join("\n")}`,
  );
});

test("purity: src/engine/ uses no time, randomness, timers, promises or async", () => {
  const problems = report(tsFilesUnder(join(ROOT, "src", "engine")), engineViolations);
  assert.deepEqual(
    problems,
    [],
    `the engine gets time from tick(now) and randomness from its PRNG:\n${problems.join("\n")}`,
  );
});

test("purity: the scan covers the real sources", () => {
  const files = tsFilesUnder(join(ROOT, "src")).map((f) => relative(ROOT, f).replaceAll("\\", "/"));
  for (const expected of ["src/types.ts", "src/messages.ts", "src/config.ts", "src/clock.ts"]) {
    assert.ok(files.includes(expected), `${expected} not found among ${files.join(", ")}`);
  }
  assert.ok(existsSync(join(ROOT, "mod.ts")), "mod.ts exists");
  // The real files pass through the tokenizer without losing their code.
  const { code } = scan(readFileSync(join(ROOT, "src", "clock.ts"), "utf8"));
  assert.match(code, /export class ManualClock/);
  assert.doesNotMatch(code, /@example/);
});

// ------------------------------------------------------ the checker, checked

test("purity checker: flags node: and bun: imports in every form", () => {
  const bad = [
    `import { readFileSync } from "node:fs";`,
    `import fs from 'node:fs/promises';`,
    `import "bun:sqlite";`,
    `export * from "node:path";`,
    `export { x } from 'bun:ffi';`,
    `const m = await import("node:os");`,
    "const m = await import(`node:${name}`);",
    `const fs = require("node:fs");`,
    `import type { Buffer } from "node:buffer";`,
  ];
  for (const source of bad) {
    assert.equal(portabilityViolations(source).length, 1, source);
  }
});

test("purity checker: flags the Deno and Bun globals however reached", () => {
  const bad = [
    `const k = await Deno.openKv();`,
    `Bun.file("x");`,
    `const env = globalThis.Deno?.env;`,
    `const b = (globalThis as any)["Bun"];`,
    `if (typeof Deno !== "undefined") {}`,
    `const { serve } = Bun;`,
  ];
  for (const source of bad) {
    assert.ok(portabilityViolations(source).length >= 1, source);
  }
});

test("purity checker: ignores comments, prose in strings and look-alike names", () => {
  const good = [
    `// Deno.openKv() lives in adapters/, as does import "node:fs"`,
    `/** Works on Deno and Bun. @example import { x } from "node:fs"; */ export const a = 1;`,
    `/* Bun.serve */ const b = 2;`,
    `const msg = "Deno.exit is not used"; const s = "see node: docs";`,
    `import { DenoKvStore } from "../adapters/deno_kv.ts"; const bunch = 1; const deno = 2;`,
    "const t = `running on ${runtimeName}`;",
    `const re = /\\/\\/ Deno/; const n = 4 / 2 / 1;`,
    `const r = /["'\`]node:fs/g;`,
  ];
  for (const source of good) {
    assert.deepEqual(portabilityViolations(source), [], source);
  }
});

test("purity checker: is not fooled by comment markers inside strings and regexes", () => {
  const bad = [
    `const url = "http://example.com"; Deno.exit(1);`,
    `const a = "/*"; Deno.exit(1); const b = "*/";`,
    `const re = /\\/*/; Bun.exit();`,
    "const t = `//${Deno.pid}`;",
    "const t = `a${`b${Bun.version}`}c`;",
    `const s = 'it\\'s'; import("node:fs");`,
  ];
  for (const source of bad) {
    assert.ok(portabilityViolations(source).length >= 1, source);
  }
});

test("purity checker: reports the line of a violation", () => {
  const source = `/**\n * Deno.x in a comment\n */\nconst a = "x";\nconst b = Deno.pid;\n`;
  assert.deepEqual(portabilityViolations(source).map((v) => v.line), [5]);
});

test("purity checker: flags time, randomness, timers and async in the engine", () => {
  const bad = [
    `const t = Date.now();`,
    `const d = new Date();`,
    `const r = Math.random();`,
    `const r = Math . random();`,
    `setTimeout(tick, 10);`,
    `const h = setInterval(f, 5);`,
    `queueMicrotask(run);`,
    `const t = performance.now();`,
    `crypto.getRandomValues(buf);`,
    `return Promise.resolve(1);`,
    `async function f() {}`,
    `const f = async () => 1;`,
    `for (const x of xs) await x;`,
  ];
  for (const source of bad) {
    assert.equal(engineViolations(source).length, 1, source);
  }
});

test("purity checker: lets the engine mention those names in comments, strings and identifiers", () => {
  const good = [
    `// no Date.now(), no Math.random(), no setTimeout: tick(now) gives time`,
    `/** Never async; never awaits a Promise. */ export function step(now: number): void {}`,
    `const reason = "await the flush of performance data";`,
    `const lastDate = 1; const updated = 2; const awaitingVotes = 3; const asyncQueue = [];`,
    `const random = this.random.int(1, 2); const cryptoKey = "k";`,
  ];
  for (const source of good) {
    assert.deepEqual(engineViolations(source), [], source);
  }
});
