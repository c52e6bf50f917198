import type { B24Command, Bitrix24Client } from './client.ts';

/*
 * Reading whole Bitrix24 lists at 2 requests a second. List methods return 50
 * records a call, so everything goes through `batch` (50 calls, up to 2 500
 * records, per HTTP request) in one of two ways:
 *
 * - paged: the documented `start`/`next` navigation, anchored on `>ID` so the
 *   offsets never drift more than one batch (incremental runs, small lists);
 * - id windows: the fast mode for full exports (`>ID` + `start: -1`, no total
 *   counted): 50 windows of consecutive ids per batch. A window at most 50 ids
 *   wide cannot hold more than 50 records, so nothing is cut off; wider
 *   windows are used while ids are sparse and narrowed when one comes back full.
 */

type Rec = Record<string, unknown>;

export const PAGE = 50;
const BATCH = 50;

export interface ListSpec {
  method: string;
  /** Fixed parameters (select, entityTypeId, ...). */
  params?: Record<string, unknown>;
  filter?: Record<string, unknown>;
  /** `filter` for crm.*, `FILTER` for voximplant.statistic.get. */
  filterKey?: string;
  /** The ordering parameters for ascending or descending ids. */
  order: (dir: 'ASC' | 'DESC') => Record<string, unknown>;
  /** The records of a result (`result`, `result.items`, `result.tasks`). */
  items: (result: unknown) => Rec[];
  idOf: (rec: Rec) => number;
  /** The filter keys for "id greater than" and "id at most" (`>ID`/`<=ID`). */
  gt: string;
  lte: string;
  /** Method supports id windows with `start: -1` (crm.* list methods). */
  windows?: boolean;
}

export interface Page {
  records: Rec[];
  /** The id every record up to which has been read. */
  after: number;
  total?: number;
}

function command(
  spec: ListSpec,
  filter: Record<string, unknown>,
  dir: 'ASC' | 'DESC',
  start: number,
): B24Command {
  return {
    method: spec.method,
    params: { ...(spec.params ?? {}), [spec.filterKey ?? 'filter']: filter, ...spec.order(dir), start },
  };
}

function sortById(spec: ListSpec, records: Rec[]): Rec[] {
  const seen = new Set<number>();
  const out: Rec[] = [];
  for (const r of [...records].sort((a, b) => spec.idOf(a) - spec.idOf(b))) {
    const id = spec.idOf(r);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(r);
  }
  return out;
}

/**
 * Pages of records with id greater than `after`, ascending, through
 * `start`/`next` navigation: the first batch asks for one page (to learn the
 * total), later ones for as many pages as remain, up to 50.
 */
export async function* pagedScan(client: Bitrix24Client, spec: ListSpec, after = 0): AsyncGenerator<Page> {
  let anchor = after;
  let expected = 1;
  for (;;) {
    const filter = { ...(spec.filter ?? {}), [spec.gt]: anchor };
    const n = Math.min(BATCH, Math.max(1, expected));
    const cmds: Record<string, B24Command> = {};
    for (let k = 0; k < n; k++) cmds[`p${k}`] = command(spec, filter, 'ASC', k * PAGE);
    const res = await client.batch(cmds);
    const counted = res.total.p0 !== undefined;
    const total = Number(res.total.p0 ?? 0);
    let records: Rec[] = [];
    for (let k = 0; k < n; k++) records.push(...spec.items(res.result[`p${k}`]));
    records = sortById(spec, records);
    const last = records.at(-1);
    // Without a total, the last page's `next` says whether there is more.
    const done = records.length === 0 || (counted ? n * PAGE >= total : res.next[`p${n - 1}`] === undefined);
    const next = last ? spec.idOf(last) : anchor;
    yield { records, after: next, ...(counted ? { total } : {}) };
    if (done) return;
    anchor = next;
    expected = counted ? Math.ceil((total - n * PAGE) / PAGE) : BATCH;
  }
}

/** Pages of a list that has no id filter (department.get, user.get): plain offsets. */
export async function* offsetScan(
  client: Bitrix24Client,
  method: string,
  params: Record<string, unknown>,
  items: (result: unknown) => Rec[],
  startKey = 'start',
): AsyncGenerator<Rec[]> {
  let offset = 0;
  let expected = 1;
  for (;;) {
    const n = Math.min(BATCH, Math.max(1, expected));
    const cmds: Record<string, B24Command> = {};
    for (let k = 0; k < n; k++)
      cmds[`o${k}`] = { method, params: { ...params, [startKey]: offset + k * PAGE } };
    const res = await client.batch(cmds);
    const total = Number(res.total.o0 ?? 0);
    const records: Rec[] = [];
    for (let k = 0; k < n; k++) records.push(...items(res.result[`o${k}`]));
    yield records;
    offset += n * PAGE;
    if (records.length === 0 || offset >= total) return;
    expected = Math.ceil((total - offset) / PAGE);
  }
}

export interface WindowPos {
  after: number;
  width: number;
}

/**
 * The fast full export: records with id greater than `pos.after` in id
 * windows, 50 windows a batch, `start: -1` (no total counted). Ends at the
 * largest id that existed when the scan began; later records belong to the
 * next incremental run.
 */
export async function* windowScan(
  client: Bitrix24Client,
  spec: ListSpec,
  pos: WindowPos = { after: 0, width: PAGE },
): AsyncGenerator<Page & { pos: WindowPos }> {
  const top = await client.call(spec.method, {
    ...(spec.params ?? {}),
    [spec.filterKey ?? 'filter']: { ...(spec.filter ?? {}) },
    ...spec.order('DESC'),
    start: -1,
  });
  const newest = spec.items(top.result)[0];
  if (!newest) return;
  const maxId = spec.idOf(newest);
  let { after, width } = pos;
  while (after < maxId) {
    const cmds: Record<string, B24Command> = {};
    const bounds: Array<[number, number]> = [];
    for (let k = 0; k < BATCH; k++) {
      const lo = after + k * width;
      if (lo >= maxId) break;
      const hi = lo + width;
      bounds.push([lo, hi]);
      cmds[`w${k}`] = command(spec, { ...(spec.filter ?? {}), [spec.gt]: lo, [spec.lte]: hi }, 'ASC', -1);
    }
    const res = await client.batch(cmds);
    const records: Rec[] = [];
    let reached = bounds.at(-1)![1];
    let cut = false;
    for (let k = 0; k < bounds.length; k++) {
      const got = sortById(spec, spec.items(res.result[`w${k}`]));
      records.push(...got);
      if (got.length >= PAGE && width > PAGE) {
        // This window may hold more than one page: continue right after its last record, narrower.
        reached = spec.idOf(got.at(-1)!);
        cut = true;
        break;
      }
    }
    const fill = records.length / (bounds.length * PAGE);
    if (cut) width = Math.max(PAGE, Math.floor(width / 2));
    else if (fill < 0.25 && width < 1 << 20) width *= 2;
    after = reached;
    yield { records: sortById(spec, records), after, pos: { after, width } };
  }
}
