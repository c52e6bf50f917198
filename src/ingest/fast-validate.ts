import type { z } from 'zod';
import type { EntitySpec } from './entities.ts';
import { timestamp } from './records.ts';

/**
 * A validator compiled from a zod schema for the import's hot path. zod stays
 * the authority: the compiled function either returns exactly what
 * `schema.parse` would return, or `UNDECIDED` — for any input zod would reject,
 * and for anything it is not sure about — and the importer then asks zod, which
 * also words the reject reason. A large import spends most of its CPU in
 * validation, and zod's general machinery costs several times the checks
 * themselves (issue arrays, payload objects, per-key optionality ladders).
 */
export const UNDECIDED: unique symbol = Symbol('undecided');
export type Compiled = (input: unknown) => unknown;

interface Def {
  type: string;
  checks?: Array<{ _zod: { def: CheckDef } }>;
  innerType?: ZodLike;
  in?: ZodLike;
  out?: ZodLike;
  transform?: (value: unknown, ctx: unknown) => unknown;
  entries?: Record<string, unknown>;
  element?: ZodLike;
  options?: ZodLike[];
  shape?: Record<string, ZodLike>;
  catchall?: ZodLike;
  coerce?: boolean;
}
interface CheckDef {
  check: string;
  minimum?: number;
  maximum?: number;
  value?: number;
  inclusive?: boolean;
  format?: string;
  pattern?: RegExp;
  fn?: (value: unknown) => unknown;
  when?: unknown;
}
interface ZodLike {
  _zod: { def: Def; optin?: string; optout?: string };
}

/**
 * Faster equivalents of a schema's transform, by schema: given the value that
 * passed the schema's checks, the transform's exact result, or undefined to
 * run the transform itself.
 */
export type Substitutes = Map<unknown, (value: unknown) => unknown>;

/** Compiles a schema, or returns undefined when it uses something this compiler does not mirror. */
export function compileValidator(
  schema: z.ZodType,
  substitutes: Substitutes = new Map(),
): Compiled | undefined {
  try {
    return build(schema as unknown as ZodLike, substitutes);
  } catch {
    return undefined;
  }
}

/**
 * A record timestamp decided without its refinement's regular expression and
 * without Date: every string `isoTimestamp` reads also passes the refinement,
 * and Date reads it the same; anything else is left to zod.
 */
const recordTimestamp: Compiled = (v) => {
  if (typeof v !== 'string') return UNDECIDED;
  return isoTimestamp(v) ?? UNDECIDED;
};

/** The import's validator of one entity's records (record timestamps: see `recordTimestamp`). */
export function recordValidator(spec: EntitySpec): Compiled | undefined {
  return compileValidator(spec.schema);
}

/** A record as the import reads it: the schema's fields (absent ones undefined) and `extra`. */
export type ReadRecord = Record<string, unknown>;
export type RecordReader = (input: Record<string, unknown>) => ReadRecord | typeof UNDECIDED;

/**
 * The import's reader of one entity's JSON objects: what the importer makes
 * of zod's output — the same field values, the fields outside the format
 * gathered in `extra` (null when there are none) — or UNDECIDED. Every
 * record comes out in one shape (each field of the schema, in schema order,
 * undefined when absent, then `extra`), built by straight-line code made for
 * the entity: millions of records then cost a few monomorphic property reads
 * each instead of a walk over arrays of checks.
 */
export function recordReader(spec: EntitySpec): RecordReader | undefined {
  const def = (spec.schema as unknown as ZodLike)._zod.def;
  if (def.type !== 'object' || (def.checks?.length ?? 0) > 0) return undefined;
  const catchallType = def.catchall?._zod.def.type;
  if (catchallType !== 'unknown' && catchallType !== 'any') return undefined;
  const shape = def.shape ?? {};
  const keys = Object.keys(shape);
  if (keys.includes('__proto__') || keys.includes('extra')) return undefined;
  const subs: Substitutes = new Map();
  const checks: Compiled[] = [];
  const body: string[] = ['let v;'];
  try {
    keys.forEach((k, i) => {
      const el = shape[k]!;
      const optin = el._zod.optin;
      const optout = el._zod.optout;
      if (!(optin === undefined || (optin === 'optional' && optout === 'optional'))) {
        throw new Unsupported(`optionality ${optin}/${optout}`);
      }
      checks.push(build(el, subs));
      const key = JSON.stringify(k);
      // An absent optional field stays undefined; a present one (even undefined) goes through its check, as in zod.
      body.push(
        `let f${i};`,
        `v = src[${key}];`,
        `if (v === undefined && !(${key} in src)) { ${optin === 'optional' ? '' : 'return U;'} }`,
        `else { f${i} = c${i}(v); if (f${i} === U) return U; }`,
      );
    });
  } catch {
    return undefined;
  }
  body.push(
    'let extra = null;',
    'for (const k in src) {',
    '  if (k === "__proto__" || known.has(k)) continue;',
    '  if (extra === null) extra = {};',
    '  extra[k] = src[k];',
    '}',
    `return { ${keys.map((k, i) => `${JSON.stringify(k)}: f${i}`).join(', ')}, extra };`,
  );
  const source = [
    ...checks.map((_, i) => `const c${i} = checks[${i}];`),
    `return function read(src) {\n${body.join('\n')}\n};`,
  ].join('\n');
  // Generated once per entity from the schema's own field names (JSON-quoted), never from input.
  const make = new Function('U', 'checks', 'known', source) as (
    u: typeof UNDECIDED,
    c: Compiled[],
    known: Set<string>,
  ) => RecordReader;
  return make(UNDECIDED, checks, spec.known);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/**
 * `new Date(s).toISOString()` for the common shape of import timestamps —
 * `YYYY-MM-DDTHH:MM:SS[.f{1,3}](Z|±HH:MM)` with every field in its calendar
 * range — computed without a Date; undefined for anything else (the caller
 * then asks Date). Import files carry millions of timestamps.
 */
export function isoTimestamp(s: string): string | undefined {
  const len = s.length;
  if (len < 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84)
    return undefined;
  if (s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const se = digits(s, 17, 2);
  if (
    y < 1001 ||
    y > 9998 ||
    mo < 1 ||
    mo > 12 ||
    d < 1 ||
    h < 0 ||
    h > 23 ||
    mi < 0 ||
    mi > 59 ||
    se < 0 ||
    se > 59
  ) {
    return undefined;
  }
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]!)) return undefined;
  let i = 19;
  let ms = 0;
  if (s.charCodeAt(i) === 46) {
    let n = 0;
    while (i + 1 + n < len && n < 4 && s.charCodeAt(i + 1 + n) >= 48 && s.charCodeAt(i + 1 + n) <= 57) n++;
    if (n < 1 || n > 3) return undefined;
    ms = digits(s, i + 1, n) * (n === 1 ? 100 : n === 2 ? 10 : 1);
    i += 1 + n;
  }
  let offsetMin = 0;
  const z = s.charCodeAt(i);
  if (z === 90) {
    if (i + 1 !== len) return undefined;
  } else if (z === 43 || z === 45) {
    if (i + 6 !== len || s.charCodeAt(i + 3) !== 58) return undefined;
    const oh = digits(s, i + 1, 2);
    const om = digits(s, i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
    offsetMin = (z === 43 ? 1 : -1) * (oh * 60 + om);
  } else return undefined;
  // Most moments stay on their local date in UTC: only the hour and minute change.
  const utcMinute = h * 60 + mi - offsetMin;
  if (utcMinute >= 0 && utcMinute < 1440) {
    const uh = Math.floor(utcMinute / 60);
    return `${s.slice(0, 11)}${pad2(uh)}:${pad2(utcMinute - uh * 60)}:${s.slice(17, 19)}.${pad3(ms)}Z`;
  }
  const t = Date.UTC(y, mo - 1, d, h, mi, se, ms) - offsetMin * 60_000;
  // Civil date of the UTC day (days-from-civil inverse, proleptic Gregorian).
  const days = Math.floor(t / 86_400_000);
  let rest = t - days * 86_400_000;
  const zd = days + 719_468;
  const era = Math.floor(zd / 146_097);
  const doe = zd - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hh = Math.floor(rest / 3_600_000);
  rest -= hh * 3_600_000;
  const mm = Math.floor(rest / 60_000);
  rest -= mm * 60_000;
  const ss = Math.floor(rest / 1000);
  const fff = rest - ss * 1000;
  return `${year}-${pad2(month)}-${pad2(day)}T${pad2(hh)}:${pad2(mm)}:${pad2(ss)}.${pad3(fff)}Z`;
}

class Unsupported extends Error {}

function build(s: ZodLike, subs: Substitutes): Compiled {
  if (s === (timestamp as unknown)) return recordTimestamp;
  const def = s._zod.def;
  if (def.coerce) throw new Unsupported('coerce');
  switch (def.type) {
    case 'string':
      return withChecks(def, (v) => (typeof v === 'string' ? v : UNDECIDED), lengthOf);
    case 'number':
      return withChecks(def, (v) => (typeof v === 'number' && Number.isFinite(v) ? v : UNDECIDED));
    case 'boolean':
      noChecks(def);
      return (v) => (typeof v === 'boolean' ? v : UNDECIDED);
    case 'unknown':
    case 'any':
      noChecks(def);
      return (v) => v;
    case 'enum': {
      noChecks(def);
      const values = new Set(Object.values(def.entries ?? {}));
      return (v) => (values.has(v) ? v : UNDECIDED);
    }
    case 'optional': {
      noChecks(def);
      const inner = build(def.innerType!, subs);
      return (v) => (v === undefined ? undefined : inner(v));
    }
    case 'nullable': {
      noChecks(def);
      const inner = build(def.innerType!, subs);
      return (v) => (v === null ? null : inner(v));
    }
    case 'pipe': {
      noChecks(def);
      const first = build(def.in!, subs);
      const second =
        def.out!._zod.def.type === 'transform' ? transformOf(def.out!, subs.get(s)) : build(def.out!, subs);
      return (v) => {
        const r = first(v);
        return r === UNDECIDED ? UNDECIDED : second(r);
      };
    }
    case 'array': {
      const element = build(def.element!, subs);
      return withChecks(
        def,
        (v) => {
          if (!Array.isArray(v)) return UNDECIDED;
          const out = new Array(v.length);
          for (let i = 0; i < v.length; i++) {
            const r = element(v[i]);
            if (r === UNDECIDED) return UNDECIDED;
            out[i] = r;
          }
          return out;
        },
        lengthOf,
      );
    }
    case 'union': {
      noChecks(def);
      const options = (def.options ?? []).map((o) => build(o, subs));
      return (v) => {
        for (const o of options) {
          const r = o(v);
          if (r !== UNDECIDED) return r;
        }
        return UNDECIDED;
      };
    }
    case 'object':
      return withChecks(def, objectOf(def, subs));
    default:
      throw new Unsupported(def.type);
  }
}

function noChecks(def: Def) {
  if (def.checks && def.checks.length > 0) throw new Unsupported(`checks on ${def.type}`);
}

function lengthOf(v: unknown): number {
  return (v as { length: number }).length;
}

/** Type test first, then the schema's checks on the parsed value, as zod runs them. */
function withChecks(def: Def, base: Compiled, length?: (v: unknown) => number): Compiled {
  const tests = (def.checks ?? []).map((c) => checkOf(c._zod.def, def.type, length));
  if (tests.length === 0) return base;
  return (v) => {
    const r = base(v);
    if (r === UNDECIDED) return UNDECIDED;
    for (const t of tests) if (!t(r)) return UNDECIDED;
    return r;
  };
}

function checkOf(c: CheckDef, type: string, length?: (v: unknown) => number): (v: unknown) => boolean {
  // zod gives length checks a default `when` (the value has a length): always true after the type test.
  const lengthCheck = c.check === 'min_length' || c.check === 'max_length';
  if (c.when !== undefined && !lengthCheck) throw new Unsupported('conditional check');
  switch (c.check) {
    case 'min_length':
      if (!length) throw new Unsupported('min_length');
      return (v) => length(v) >= c.minimum!;
    case 'max_length':
      if (!length) throw new Unsupported('max_length');
      return (v) => length(v) <= c.maximum!;
    case 'greater_than':
      if (type !== 'number') throw new Unsupported('greater_than');
      return c.inclusive ? (v) => (v as number) >= c.value! : (v) => (v as number) > c.value!;
    case 'less_than':
      if (type !== 'number') throw new Unsupported('less_than');
      return c.inclusive ? (v) => (v as number) <= c.value! : (v) => (v as number) < c.value!;
    case 'number_format':
      if (c.format !== 'safeint') throw new Unsupported(`number format ${c.format}`);
      return (v) => Number.isSafeInteger(v);
    case 'string_format': {
      if (c.format !== 'regex' || !c.pattern || c.pattern.global || c.pattern.sticky) {
        throw new Unsupported(`string format ${c.format}`);
      }
      const re = c.pattern;
      return (v) => re.test(v as string);
    }
    case 'custom': {
      const fn = c.fn!;
      // A refinement that is not a plain `true` (false, a promise, a throw) is left to zod.
      return (v) => {
        try {
          return fn(v) === true;
        } catch {
          return false;
        }
      };
    }
    default:
      throw new Unsupported(c.check);
  }
}

/** Runs a `.transform()` function with a context that only records whether it reported an issue. */
function transformOf(s: ZodLike, substitute?: (value: unknown) => unknown): Compiled {
  const fn = s._zod.def.transform!;
  // One context reused for every call (transforms here do not nest): no closure per value.
  const ctx = {
    value: undefined as unknown,
    issues: [] as unknown[],
    failed: false,
    addIssue(): void {
      ctx.failed = true;
    },
  };
  return (v) => {
    if (substitute) {
      const quick = substitute(v);
      if (quick !== undefined) return quick;
    }
    ctx.value = v;
    ctx.failed = false;
    if (ctx.issues.length > 0) ctx.issues = [];
    let out: unknown;
    try {
      out = fn(v, ctx);
    } catch {
      return UNDECIDED;
    }
    if (ctx.failed || ctx.issues.length > 0 || out instanceof Promise) return UNDECIDED;
    return out;
  };
}

/** zod's object rules: shape keys in shape order, absent optional keys left out, then (loose) the other keys in input order. */
function objectOf(def: Def, subs: Substitutes): Compiled {
  const shape = def.shape ?? {};
  const keys = Object.keys(shape).filter((k) => k !== '__proto__');
  if (Object.getOwnPropertySymbols(shape).length > 0) throw new Unsupported('symbol keys');
  const fields = keys.map((k) => {
    const el = shape[k]!;
    const optin = el._zod.optin;
    const optout = el._zod.optout;
    // Only the two rungs zod's records use: required, or optional in and out.
    if (!(optin === undefined || (optin === 'optional' && optout === 'optional'))) {
      throw new Unsupported(`optionality ${optin}/${optout}`);
    }
    return { key: k, check: build(el, subs), optional: optin === 'optional' };
  });
  const known = new Set(Object.keys(shape));
  const catchallType = def.catchall?._zod.def.type;
  if (catchallType !== undefined && catchallType !== 'unknown' && catchallType !== 'any') {
    throw new Unsupported(`catchall ${catchallType}`);
  }
  const loose = catchallType !== undefined;
  return (input) => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return UNDECIDED;
    const src = input as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      const present = f.key in src;
      if (!present) {
        if (f.optional) continue;
        return UNDECIDED;
      }
      const r = f.check(src[f.key]);
      if (r === UNDECIDED) return UNDECIDED;
      out[f.key] = r;
    }
    if (loose) {
      for (const k in src) {
        if (known.has(k) || k === '__proto__') continue;
        out[k] = src[k];
      }
    }
    return out;
  };
}
