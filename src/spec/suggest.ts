// "did you mean" suggestions: Levenshtein distance against the words that would have been valid.

/** Edit distance (insert, delete, substitute, and swap of two adjacent characters). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const m = a.length;
  const n = b.length;
  if (m === 0) return n;
  if (n === 0) return m;
  // Three rows are enough for the optimal-string-alignment variant.
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  let cur = new Array<number>(n + 1).fill(0);
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2] + 1);
      cur[j] = d;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[n];
}

/**
 * The candidate nearest to `word`, if it is near enough to be a likely typo: at most a third of the
 * word's length in edits (at least 1, at most 3), compared case-insensitively. A candidate that
 * starts with or contains the word (or the reverse) also counts when it is not much longer.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    if (cl === w) return c;
    let score = editDistance(w, cl);
    // Nothing in common (e.g. "k" and "s") is not a typo.
    if (score >= Math.max(w.length, cl.length)) continue;
    const limit = Math.min(3, Math.max(1, Math.floor(Math.max(w.length, cl.length) / 3)));
    if (score > limit) {
      const contained = w.length >= 3 && (cl.includes(w) || w.includes(cl)) && Math.abs(cl.length - w.length) <= 6;
      if (!contained) continue;
      score = limit + 0.5;
    }
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** `did you mean "x"?` or undefined. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const c = closest(word, candidates);
  return c === undefined ? undefined : `did you mean "${c}"?`;
}
