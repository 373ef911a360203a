// Shared by tests/docs/docs_snippets_test.ts and tests/docs/docs_commands_test.ts:
// finds the fenced code blocks of the docs, parses the snippet directives, maps the
// `jsr:@x/raft…` specifiers to this checkout's files (from deno.json "exports"), and
// extracts the commands of sh blocks and the `exercises:` markers of the tests.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The checkout's root directory (absolute path, with a trailing separator). */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
export const IS_BUN: boolean = "Bun" in globalThis;
export const RUNTIME: "bun" | "deno" = IS_BUN ? "bun" : "deno";

/** The directives a `<!-- snippet: … -->` comment right before a ts block may give. */
export type Directive = "check-only" | "deno-only" | "bun-only";
const DIRECTIVES: readonly string[] = ["check-only", "deno-only", "bun-only"];

/** A fenced code block of a page. */
export interface CodeBlock {
  /** The page, relative to the root with `/` separators, e.g. `docs/membership.md`. */
  readonly page: string;
  /** The 1-based line of the opening fence. */
  readonly line: number;
  /** The info string's first word, lower case (`ts`, `sh`, …; `""` if none). */
  readonly lang: string;
  readonly code: string;
  /** The directive right before the block, if any. */
  readonly directive: Directive | null;
  /** Why the directive before the block is not allowed, if it is not. */
  readonly directiveError: string | null;
}

/** A problem with a page that no block owns, e.g. a directive not right before a ts block. */
export interface PageProblem {
  readonly page: string;
  readonly line: number;
  readonly message: string;
}

/** The languages whose blocks are run as TypeScript modules. */
export const TS_LANGS: readonly string[] = ["ts", "typescript"];
/** The languages whose blocks hold shell commands. */
export const SH_LANGS: readonly string[] = ["sh", "bash", "shell"];

const DIRECTIVE_LINE = /^\s*<!--\s*snippet\s*:\s*(.*?)\s*-->\s*$/;
const ANY_SNIPPET_COMMENT = /<!--\s*snippet\b/;

/**
 * Splits a Markdown page into its fenced code blocks (``` or ~~~ fences, up to three
 * spaces of indentation) and reports directive comments that are malformed, unknown,
 * `skip`, or not on the line right before a ts block.
 */
export function parsePage(
  page: string,
  text: string,
): { blocks: CodeBlock[]; problems: PageProblem[] } {
  const lines = text.split("\n");
  const blocks: CodeBlock[] = [];
  const problems: PageProblem[] = [];
  let i = 0;
  while (i < lines.length) {
    const open = lines[i]!.match(/^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/);
    if (open === null) {
      const line = lines[i]!;
      if (ANY_SNIPPET_COMMENT.test(line)) {
        const next = lines[i + 1] ?? "";
        const nextOpen = next.match(/^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/);
        if (nextOpen === null || !TS_LANGS.includes(nextOpen[2]!.toLowerCase())) {
          problems.push({
            page,
            line: i + 1,
            message: `${page}:${i + 1}: the snippet directive ${JSON.stringify(line.trim())} ` +
              "must be on the line right before a ```ts block",
          });
        }
      }
      i++;
      continue;
    }
    const fence = open[1]!;
    const lang = open[2]!.toLowerCase();
    const start = i;
    const body: string[] = [];
    i++;
    while (i < lines.length) {
      const close = lines[i]!.match(/^ {0,3}(`{3,}|~{3,})\s*$/);
      if (close !== null && close[1]![0] === fence[0] && close[1]!.length >= fence.length) break;
      body.push(lines[i]!);
      i++;
    }
    i++; // past the closing fence (or the end of an unclosed block)
    let directive: Directive | null = null;
    let directiveError: string | null = null;
    const before = start > 0 ? lines[start - 1]! : "";
    if (ANY_SNIPPET_COMMENT.test(before) && TS_LANGS.includes(lang)) {
      const m = before.match(DIRECTIVE_LINE);
      const value = m === null ? null : m[1]!;
      if (value === null) {
        directiveError = `${page}:${start}: malformed snippet directive ${
          JSON.stringify(before.trim())
        } (write <!-- snippet: check-only -->, deno-only or bun-only)`;
      } else if (value === "skip") {
        directiveError = `${page}:${start}: <!-- snippet: skip --> is not allowed: every ts ` +
          "block runs (or, when it cannot, is check-only and the page says why)";
      } else if (!DIRECTIVES.includes(value)) {
        directiveError = `${page}:${start}: unknown snippet directive ${
          JSON.stringify(value)
        } (known: ${DIRECTIVES.join(", ")})`;
      } else {
        directive = value as Directive;
      }
    }
    blocks.push({
      page,
      line: start + 1,
      lang,
      code: body.join("\n") + "\n",
      directive,
      directiveError,
    });
  }
  return { blocks, problems };
}

/** The pages whose ts blocks are run: every docs/*.md, sorted. */
export function docPages(): string[] {
  const dir = join(ROOT, "docs");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`);
}

/** Reads and parses a page relative to the root. */
export function readPage(page: string): { blocks: CodeBlock[]; problems: PageProblem[] } {
  return parsePage(page, readFileSync(join(ROOT, page), "utf8"));
}

/** deno.json "exports": subpath (`.`, `./kv`, …) to file, relative to the root. */
export function packageExports(): Record<string, string> {
  const json = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as {
    name: string;
    exports: Record<string, string>;
  };
  return json.exports;
}

/** The package name in deno.json (`@x/raft`). */
export function packageName(): string {
  return (JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as { name: string }).name;
}

/**
 * Rewrites every quoted `jsr:@x/raft[@version][/subpath]` specifier in `code` to the
 * file URL of this checkout's export. Throws, naming the specifier and the known
 * subpaths, for a subpath deno.json does not export, and for any other `jsr:` specifier
 * (`allowOtherJsr` lets a deno-only block keep those).
 */
export function mapSpecifiers(
  code: string,
  exports: Record<string, string> = packageExports(),
  options: { name?: string; allowOtherJsr?: boolean } = {},
): string {
  const name = options.name ?? packageName();
  const escaped = name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const spec = new RegExp(`(["'])jsr:${escaped}(@[^/"'\\s]*)?(/[^"'\\s]*)?\\1`, "g");
  const mapped = code.replace(spec, (_all, quote: string, _version, sub: string | undefined) => {
    const key = sub === undefined ? "." : `.${sub}`;
    const file = exports[key];
    if (file === undefined) {
      throw new Error(
        `unknown subpath: jsr:${name}${sub ?? ""} is not in deno.json "exports" (known: ${
          Object.keys(exports).map((k) => k === "." ? `jsr:${name}` : `jsr:${name}${k.slice(1)}`)
            .join(", ")
        })`,
      );
    }
    return `${quote}${pathToFileURL(join(ROOT, file)).href}${quote}`;
  });
  if (options.allowOtherJsr !== true) {
    const other = mapped.match(/["']jsr:[^"'\s]*["']/);
    if (other !== null) {
      throw new Error(
        `${other[0]}: only jsr:${name} specifiers are mapped; other jsr: packages do not ` +
          "load under Bun (mark the block <!-- snippet: deno-only --> or import something else)",
      );
    }
  }
  return mapped;
}

/** A command of a sh block. */
export interface DocCommand {
  readonly page: string;
  /** The 1-based line the command starts on. */
  readonly line: number;
  readonly command: string;
}

/** Drops a trailing ` # comment` that is outside quotes. */
function dropComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === "\\") i++;
    else if (c === "'" || c === '"') quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

/**
 * The commands of the sh blocks of a page: blank lines and `#` comment lines skipped,
 * `\` continuations joined (with one space), trailing `# comments` dropped, whitespace
 * runs outside the command's words kept as written but the ends trimmed.
 */
export function commandsOf(blocks: readonly CodeBlock[]): DocCommand[] {
  const out: DocCommand[] = [];
  for (const block of blocks) {
    if (!SH_LANGS.includes(block.lang)) continue;
    const lines = block.code.split("\n");
    let parts: string[] = [];
    let startLine = 0;
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i]!;
      const pageLine = block.line + 1 + i;
      if (parts.length === 0) {
        const t = raw.trim();
        if (t === "" || t.startsWith("#")) continue;
        startLine = pageLine;
      }
      const text = dropComment(raw).trimEnd();
      if (text.endsWith("\\")) {
        parts.push(text.slice(0, -1).trim());
        continue;
      }
      parts.push(text.trim());
      const command = parts.filter((p) => p !== "").join(" ");
      if (command !== "") out.push({ page: block.page, line: startLine, command });
      parts = [];
    }
    if (parts.length > 0) {
      const command = parts.filter((p) => p !== "").join(" ");
      if (command !== "") out.push({ page: block.page, line: startLine, command });
    }
  }
  return out;
}

/** A `// exercises: <command>` marker (or `# exercises:` in .ci/run). */
export interface Marker {
  /** The file, relative to the root. */
  readonly file: string;
  readonly line: number;
  readonly command: string;
}

function _walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) _walk(path, out);
    else if (/\.(ts|tsx|js|mjs|cjs|mts|cts)$/.test(entry.name)) out.push(path);
  }
}

/** Parses the marker lines of one file's text (`//` markers, or `#` markers when `hash`). */
export function markersIn(file: string, text: string, hash = false): Marker[] {
  const re = hash ? /^\s*# exercises: (.*?)\s*$/ : /^\s*\/\/ exercises: (.*?)\s*$/;
  const out: Marker[] = [];
  text.split("\n").forEach((line, i) => {
    const m = line.match(re);
    if (m !== null && m[1] !== "") out.push({ file, line: i + 1, command: m[1]! });
  });
  return out;
}

/** Every marker in the files under tests/ and in .ci/run. */
export function allMarkers(): Marker[] {
  const files: string[] = [];
  _walk(join(ROOT, "tests"), files);
  const out: Marker[] = [];
  for (const path of files.sort()) {
    out.push(...markersIn(relative(ROOT, path).replaceAll("\\", "/"), readFileSync(path, "utf8")));
  }
  const ci = join(ROOT, ".ci", "run");
  if (existsSync(ci)) out.push(...markersIn(".ci/run", readFileSync(ci, "utf8"), true));
  return out;
}
