/*
 * Asterisk CDR → a canonical call. The fields are the CDR variables of
 * docs.asterisk.org ("CDR Variables": clid, src, dst, dcontext, channel,
 * dstchannel, lastapp, lastdata, start, answer, end, duration, billsec,
 * disposition, amaflags, accountcode, uniqueid, userfield; linkedid since
 * Asterisk 1.8), posted by the dialplan (CURL()) or a CDR script as JSON or a
 * form. The AMI `Cdr` event's names (Source, Destination, StartTime, ...) are
 * accepted too. Asterisk writes times in the server's local time without an
 * offset, so they are read in the company's time zone. Extra variables the
 * script may add: `direction` (in/out), `did` (the company line),
 * `recording_url`.
 */

type Rec = Record<string, unknown>;

const AMI_NAMES: Record<string, string> = {
  accountcode: 'accountcode',
  source: 'src',
  destination: 'dst',
  destinationcontext: 'dcontext',
  callerid: 'clid',
  channel: 'channel',
  destinationchannel: 'dstchannel',
  lastapplication: 'lastapp',
  lastdata: 'lastdata',
  starttime: 'start',
  answertime: 'answer',
  endtime: 'end',
  duration: 'duration',
  billableseconds: 'billsec',
  disposition: 'disposition',
  amaflags: 'amaflags',
  uniqueid: 'uniqueid',
  userfield: 'userfield',
};

/** Lower-cases the keys and maps AMI event names onto CDR variable names. */
export function normalizeCdr(body: Rec): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v === null || v === undefined || typeof v === 'object') continue;
    const key = k.toLowerCase();
    out[AMI_NAMES[key] ?? key] = String(v).trim();
  }
  return out;
}

const digits = (s: string | undefined) => (s ?? '').replace(/\D/g, '');

/** An internal extension: a short number (up to 5 digits), as opposed to a phone number. */
const isExtension = (s: string | undefined) => {
  const d = digits(s);
  return d.length > 0 && d.length <= 5 && d === (s ?? '').trim();
};

/** The extension inside a channel name: `PJSIP/101-0000002a`, `SIP/101-...` → `101`. */
export function channelExtension(channel: string | undefined): string | undefined {
  const m = /^[A-Za-z0-9_]+\/([^-@/]+)/.exec(channel ?? '');
  return m && isExtension(m[1]) ? m[1] : undefined;
}

/** The offset of `tz` at a UTC instant, in minutes. */
function offsetMinutes(utcMs: number, tz: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return Math.round((asUtc - utcMs) / 60_000);
}

/**
 * A CDR time: Unix seconds, an ISO string with an offset, or Asterisk's
 * local `YYYY-MM-DD HH:MM:SS` read in `tz`. Empty and zero dates are null.
 */
export function cdrTime(v: string | undefined, tz: string): string | null {
  const s = (v ?? '').trim();
  if (!s || s.startsWith('0000-00-00')) return null;
  if (/^\d{9,11}(\.\d+)?$/.test(s)) return new Date(Number(s) * 1000).toISOString();
  if (/[zZ]$|[+-]\d{2}:?\d{2}$/.test(s) && !Number.isNaN(new Date(s).getTime()))
    return new Date(s).toISOString();
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(s);
  if (!m) return null;
  const local = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  let utc = local - offsetMinutes(local, tz) * 60_000;
  utc = local - offsetMinutes(utc, tz) * 60_000;
  return new Date(utc).toISOString();
}

function directionOf(cdr: Record<string, string>): 'in' | 'out' {
  const explicit = (cdr.direction ?? '').toLowerCase();
  if (['in', 'inbound', 'incoming'].includes(explicit)) return 'in';
  if (['out', 'outbound', 'outgoing'].includes(explicit)) return 'out';
  if (isExtension(cdr.src) && !isExtension(cdr.dst)) return 'out';
  if (!isExtension(cdr.src) && isExtension(cdr.dst)) return 'in';
  if (/from-(trunk|pstn|external|did)|incoming|inbound/i.test(cdr.dcontext ?? '')) return 'in';
  if (/from-internal|outbound|outgoing/i.test(cdr.dcontext ?? '')) return 'out';
  return channelExtension(cdr.channel) ? 'out' : 'in';
}

/** disposition → our status: ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION. */
function statusOf(disposition: string | undefined, direction: 'in' | 'out') {
  const d = (disposition ?? '').toUpperCase().replace(/_/g, ' ').trim();
  if (d === 'ANSWERED' || d === '8') return 'answered';
  if (d === 'BUSY' || d === '4') return direction === 'in' ? 'missed' : 'busy';
  if (d === 'NO ANSWER' || d === '0' || d === '1') return direction === 'in' ? 'missed' : 'no_answer';
  return 'failed';
}

export interface AsteriskCall {
  record: Rec;
  /** The company employee's extension, to find the manager by. */
  extension: string | undefined;
}

export function asteriskCall(body: Rec, tz: string): AsteriskCall | { error: string } {
  const cdr = normalizeCdr(body);
  const id = cdr.uniqueid || cdr.linkedid;
  if (!id) return { error: 'uniqueid is required' };
  const direction = directionOf(cdr);
  const status = statusOf(cdr.disposition, direction);
  const started = cdrTime(cdr.start, tz);
  if (!started) return { error: 'start is missing or not a date' };
  const clidNumber = /<([^>]+)>/.exec(cdr.clid ?? '')?.[1];
  const clientPhone = direction === 'in' ? cdr.src || clidNumber || '' : cdr.dst || '';
  const extension =
    direction === 'in'
      ? (channelExtension(cdr.dstchannel) ?? (isExtension(cdr.dst) ? cdr.dst : undefined))
      : (channelExtension(cdr.channel) ?? (isExtension(cdr.src) ? cdr.src : undefined));
  const billsec = Math.max(0, Math.trunc(Number(cdr.billsec) || 0));
  const recording =
    cdr.recording_url || (/^https?:\/\//.test(cdr.recordingfile ?? '') ? cdr.recordingfile : '');
  return {
    extension,
    record: {
      id,
      direction,
      started_at: started,
      answered_at: status === 'answered' ? cdrTime(cdr.answer, tz) : null,
      ended_at: cdrTime(cdr.end, tz),
      duration_sec: status === 'answered' ? billsec : 0,
      status,
      client_phone: clientPhone,
      line_number: cdr.did && digits(cdr.did).length >= 5 ? cdr.did : null,
      recording_url: recording || null,
      asterisk_disposition: cdr.disposition ?? null,
      asterisk_linkedid: cdr.linkedid ?? null,
      ...(extension ? { asterisk_extension: extension } : {}),
    },
  };
}
