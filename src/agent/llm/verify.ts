/**
 * Checks that every number in an LLM answer comes from a tool result. A
 * number is accepted when it equals a result value as shown to people: as is,
 * rounded, as a percentage with one decimal, in thousands or millions, as m:ss,
 * or as a part of a date in the results.
 */
export function unverifiedNumbers(answer: string, results: unknown[]): string[] {
  const allowed = new Set<string>();
  const addValue = (n: number) => {
    const forms = [n, Math.round(n), Math.round(n * 10) / 10, Math.round(n * 100) / 100];
    if (Math.abs(n) <= 1) forms.push(Math.round(n * 1000) / 10, Math.round(n * 100));
    if (Math.abs(n) >= 1000) forms.push(Math.round(n / 100) / 10, Math.round(n / 1000));
    if (Math.abs(n) >= 1e6) forms.push(Math.round(n / 1e5) / 10, Math.round(n / 1e4) / 100);
    if (n >= 60 && Number.isInteger(n)) {
      allowed.add(`${Math.floor(n / 60)}:${String(n % 60).padStart(2, '0')}`);
      forms.push(Math.round(n / 60), Math.floor(n / 60));
    }
    for (const f of forms) allowed.add(String(f));
  };
  const walk = (v: unknown) => {
    if (typeof v === 'number' && Number.isFinite(v)) addValue(v);
    else if (typeof v === 'string') {
      for (const m of v.matchAll(/\d+(?:\.\d+)?/g)) addValue(Number(m[0]));
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  results.forEach(walk);
  const bad: string[] = [];
  for (const m of answer.matchAll(
    /\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+:\d{2}|\d+(?:[.,]\d+)?/g,
  )) {
    const raw = m[0];
    if (raw.includes(':')) {
      if (!allowed.has(raw)) bad.push(raw);
      continue;
    }
    const n = Number(raw.replace(/[ \u00a0\u202f]/g, '').replace(',', '.'));
    if (!allowed.has(String(n))) bad.push(raw);
  }
  return bad;
}
