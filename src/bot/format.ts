/** ru-RU formatting shared by every reply: `1 234 567`, `18,4 %`, `3:47`, dates. */

const intFmt = new Intl.NumberFormat('ru-RU', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('ru-RU', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** Intl uses a no-break space as the group separator; messengers show it fine, tests compare with a plain one. */
const plain = (s: string) => s.replace(/[\u00a0\u202f]/g, ' ');

export function formatInt(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : plain(intFmt.format(n));
}

export function formatMoney(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : `${formatInt(Math.round(n))} ₽`;
}

export function formatShare(share: number | null | undefined): string {
  return share === null || share === undefined ? '—' : `${plain(oneDecimal.format(share * 100))} %`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function formatDays(days: number | null | undefined): string {
  return days === null || days === undefined ? '—' : `${plain(oneDecimal.format(days))} дн.`;
}

export function formatDate(d: Date, tz: string): string {
  return new Intl.DateTimeFormat('ru-RU', {
    timeZone: tz,
    day: 'numeric',
    month: 'long',
    year: 'numeric',
  }).format(d);
}
