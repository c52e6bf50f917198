/**
 * Builds a PHP-style query string (`filter[>ID]=5&select[0]=ID`), the encoding
 * Bitrix24 expects inside `batch` commands (`"crm.deal.list?filter[>ID]=5"`).
 */
export function buildQuery(params: Record<string, unknown>): string {
  const pairs: string[] = [];
  const add = (key: string, value: unknown) => {
    if (value === undefined) return;
    if (value === null) {
      pairs.push(`${encodeURIComponent(key)}=`);
    } else if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) add(`${key}[${i}]`, v);
    } else if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) add(`${key}[${k}]`, v);
    } else {
      const s = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
      pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(s)}`);
    }
  };
  for (const [k, v] of Object.entries(params)) add(k, v);
  return pairs.join('&');
}
