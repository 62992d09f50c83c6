// @ts-check
// A line diff: the longest common subsequence of two texts' lines, as kept, removed and added lines.

/** @typedef {{op: "same" | "del" | "add", text: string}} DiffLine */

/** Above this many cells (changed lines of one side x the other) the middle is shown as replaced whole. */
export const MAX_CELLS = 4_000_000;

/**
 * The lines of `before` and `after` in order, each kept ("same"), removed ("del") or added ("add"):
 * a shortest edit through the longest common subsequence; removals come before additions at each change.
 * @param {string} before
 * @param {string} after
 * @returns {DiffLine[]}
 */
export function lineDiff(before, after) {
  const a = splitLines(before);
  const b = splitLines(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA -= 1;
    endB -= 1;
  }
  /** @type {DiffLine[]} */
  const out = a.slice(0, start).map((text) => ({ op: "same", text }));
  const middleA = a.slice(start, endA);
  const middleB = b.slice(start, endB);
  if (middleA.length * middleB.length > MAX_CELLS) {
    for (const text of middleA) out.push({ op: "del", text });
    for (const text of middleB) out.push({ op: "add", text });
  } else {
    out.push(...lcsDiff(middleA, middleB));
  }
  for (const text of a.slice(endA)) out.push({ op: "same", text });
  return out;
}

/** The lines of a text ("" has none; a final newline ends the last line rather than starting one). */
export function splitLines(text) {
  if (text === "") return [];
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * @param {string[]} a
 * @param {string[]} b
 * @returns {DiffLine[]}
 */
function lcsDiff(a, b) {
  const n = a.length;
  const m = b.length;
  const width = m + 1;
  // lengths[i * width + j]: the LCS length of a[i:] and b[j:]
  const lengths = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      lengths[i * width + j] =
        a[i] === b[j] ? lengths[(i + 1) * width + j + 1] + 1 : Math.max(lengths[(i + 1) * width + j], lengths[i * width + j + 1]);
    }
  }
  /** @type {DiffLine[]} */
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: "same", text: a[i] });
      i += 1;
      j += 1;
    } else if (lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) {
      out.push({ op: "del", text: a[i] });
      i += 1;
    } else {
      out.push({ op: "add", text: b[j] });
      j += 1;
    }
  }
  for (; i < n; i += 1) out.push({ op: "del", text: a[i] });
  for (; j < m; j += 1) out.push({ op: "add", text: b[j] });
  return out;
}

/**
 * A prompt's content as lines of text: a text prompt as it is; a chat prompt as a "[role]" line
 * before each message's content.
 * @param {any} content
 * @returns {string}
 */
export function promptText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((message) => {
        const role = message && typeof message === "object" ? String(message.role ?? "") : "";
        const body = message && typeof message === "object" ? message.content : message;
        return "[" + role + "]\n" + (typeof body === "string" ? body : JSON.stringify(body, null, 2));
      })
      .join("\n");
  }
  return JSON.stringify(content, null, 2) ?? "";
}
