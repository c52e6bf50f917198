import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeOffline } from '../../src/analysis/offline/analyzer.ts';
import { type CallBreakdown, objectionTypes, scriptSteps } from '../../src/analysis/schema.ts';
import { isVerbatimQuote, parseTranscript } from '../../src/analysis/transcript.ts';

/*
 * Hand-labelled evaluation set: each NN.txt / NN.json has NN.labels.json
 * written from reading the call, before the analyzer ran on it.
 */

interface Labels {
  input: { direction?: 'in' | 'out' };
  company_speaker: string | null;
  objections: Array<{ type: string; handled: boolean }>;
  script: Record<(typeof scriptSteps)[number], boolean>;
  lead_target: boolean;
}

const dir = join(import.meta.dirname, '../fixtures/calls-labelled');
const cases = readdirSync(dir)
  .filter((f) => /^\d+\.(txt|json)$/u.test(f))
  .sort()
  .map((file) => {
    const id = file.replace(/\.(txt|json)$/u, '');
    const labels = JSON.parse(readFileSync(join(dir, `${id}.labels.json`), 'utf8')) as Labels;
    const content = readFileSync(join(dir, file), 'utf8');
    const parsed = parseTranscript(content, { direction: labels.input.direction });
    const breakdown = analyzeOffline(parsed, { callId: id, direction: labels.input.direction });
    return { id, labels, parsed, breakdown };
  });

interface Counts {
  tp: number;
  fp: number;
  fn: number;
}
const prf = (c: Counts) => {
  const precision = c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp);
  const recall = c.tp + c.fn === 0 ? 1 : c.tp / (c.tp + c.fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
};
const add = (into: Counts, predicted: boolean, expected: boolean) => {
  if (predicted && expected) into.tp++;
  else if (predicted) into.fp++;
  else if (expected) into.fn++;
};
const sum = (all: Counts[]): Counts =>
  all.reduce((a, c) => ({ tp: a.tp + c.tp, fp: a.fp + c.fp, fn: a.fn + c.fn }), { tp: 0, fp: 0, fn: 0 });
const row = (name: string, c: Counts) => {
  const m = prf(c);
  return `${name.padEnd(18)} P=${m.precision.toFixed(2)} R=${m.recall.toFixed(2)} F1=${m.f1.toFixed(2)}  (tp ${c.tp}, fp ${c.fp}, fn ${c.fn})`;
};

function evaluate(list: typeof cases) {
  const byObjection = Object.fromEntries(objectionTypes.map((t) => [t, { tp: 0, fp: 0, fn: 0 }])) as Record<
    string,
    Counts
  >;
  const byStep = Object.fromEntries(scriptSteps.map((s) => [s, { tp: 0, fp: 0, fn: 0 }])) as Record<
    string,
    Counts
  >;
  const errors: string[] = [];
  let handledAgree = 0;
  let handledTotal = 0;
  let targetAgree = 0;
  let sideAgree = 0;
  for (const { id, labels, breakdown } of list) {
    const predicted = new Set(breakdown.objections.map((o) => o.type));
    const expected = new Set(labels.objections.map((o) => o.type));
    for (const t of objectionTypes) {
      add(byObjection[t]!, predicted.has(t), expected.has(t));
      if (predicted.has(t) !== expected.has(t)) errors.push(`${id} objection ${t}: got ${predicted.has(t)}`);
    }
    for (const o of labels.objections) {
      const got = breakdown.objections.find((p) => p.type === o.type);
      if (!got) continue;
      handledTotal++;
      if (got.handled === o.handled) handledAgree++;
    }
    for (const s of scriptSteps) {
      add(byStep[s]!, breakdown.script[s].done, labels.script[s]);
      if (breakdown.script[s].done !== labels.script[s])
        errors.push(`${id} script ${s}: got ${breakdown.script[s].done}`);
    }
    if (breakdown.lead_quality.target === labels.lead_target) targetAgree++;
    else errors.push(`${id} lead target: got ${breakdown.lead_quality.target}`);
    if (breakdown.company_speaker === labels.company_speaker) sideAgree++;
    else errors.push(`${id} company speaker: got ${breakdown.company_speaker}`);
  }
  return { byObjection, byStep, errors, handledAgree, handledTotal, targetAgree, sideAgree };
}

/**
 * The set was written in rounds of labelled calls: 01-45, then 46-60, 61-75
 * and 76-90, each labelled before the analyzer ever ran on it. After each
 * round's first run, general rules were fixed (never a call-specific phrase),
 * so every round is now development data; the first-run figures of the later
 * rounds are the estimate for unseen calls and are recorded in bench/RESULTS.md.
 */
const rounds: Array<[string, number, number]> = [
  ['01-45', 1, 45],
  ['46-60', 46, 60],
  ['61-75', 61, 75],
  ['76-90', 76, 90],
];

function report(title: string, list: typeof cases): string {
  const r = evaluate(list);
  return [
    `== ${title}: ${list.length} calls`,
    'objections by type:',
    ...objectionTypes.filter((t) => t !== 'other').map((t) => `  ${row(t, r.byObjection[t]!)}`),
    `  ${row('micro', sum(Object.values(r.byObjection)))}`,
    'script steps:',
    ...scriptSteps.map((s) => `  ${row(s, r.byStep[s]!)}`),
    `  ${row('micro', sum(Object.values(r.byStep)))}`,
    `objection handled agreement: ${r.handledAgree}/${r.handledTotal}`,
    `lead target agreement: ${r.targetAgree}/${list.length}`,
    `company speaker agreement: ${r.sideAgree}/${list.length}`,
    'disagreements:',
    ...r.errors.map((e) => `  ${e}`),
  ].join('\n');
}

describe('offline analyzer on the hand-labelled call set', () => {
  const r = evaluate(cases);
  const objectionsMicro = sum(Object.values(r.byObjection));
  const stepsMicro = sum(Object.values(r.byStep));

  it('reports per-field precision, recall and F1', () => {
    const perRound = rounds.map(([name, from, to]) =>
      report(
        `round ${name}`,
        cases.filter((c) => Number(c.id) >= from && Number(c.id) <= to),
      ),
    );
    console.log([report('all', cases), ...perRound].join('\n\n'));
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it('finds objections with micro-averaged F1 of at least 0.8', () => {
    expect(prf(objectionsMicro).f1).toBeGreaterThanOrEqual(0.8);
  });

  it('judges script steps with micro-averaged F1 of at least 0.8', () => {
    expect(prf(stepsMicro).f1).toBeGreaterThanOrEqual(0.8);
  });

  it('keeps every quote verbatim in every call', () => {
    const bad: string[] = [];
    for (const { id, parsed, breakdown } of cases) {
      for (const q of quotesOf(breakdown)) if (!isVerbatimQuote(parsed, q)) bad.push(`${id}: ${q}`);
    }
    expect(bad).toEqual([]);
  });

  it('never reports objections on calls that are not sales calls', () => {
    const nonTarget = cases.filter((c) => !c.labels.lead_target);
    expect(nonTarget.length).toBeGreaterThan(0);
    for (const c of nonTarget)
      expect({ id: c.id, objections: c.breakdown.objections }).toEqual({ id: c.id, objections: [] });
  });
});

function quotesOf(b: CallBreakdown): string[] {
  return [
    ...b.objections.map((o) => o.quote),
    ...Object.values(b.script).map((s) => s.quote),
    ...b.strengths.map((s) => s.quote),
    ...b.misses.map((s) => s.quote),
  ].filter((q): q is string => q !== null);
}
