/*
 * Request body parsing shared by every webhook: JSON, and form-encoded bodies
 * with PHP-style bracket keys (`data[FIELDS][ID]=5`), which is how Bitrix24
 * and amoCRM post their events.
 */

export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type FormObject = { [key: string]: FormValue };

/** Splits `a[b][]` into `['a', 'b', '']`; a key without brackets is one segment. */
function keySegments(key: string): string[] {
  const open = key.indexOf('[');
  if (open <= 0) return [key];
  const segments = [key.slice(0, open)];
  const re = /\[([^\]]*)\]/g;
  re.lastIndex = open;
  let m: RegExpExecArray | null = re.exec(key);
  let end = open;
  while (m && m.index === end) {
    segments.push(m[1]!);
    end = m.index + m[0].length;
    m = re.exec(key);
  }
  // Anything after the last well-formed bracket belongs to the last segment, as in PHP.
  if (end < key.length) segments[segments.length - 1] += key.slice(end);
  return segments;
}

/** Objects whose keys are exactly 0..n-1 become arrays, as PHP lists do. */
function listify(value: FormValue): FormValue {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(listify);
  const keys = Object.keys(value);
  const out: FormObject = {};
  for (const k of keys) out[k] = listify(value[k]!);
  if (keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => out[k]!);
  return out;
}

/**
 * Parses `application/x-www-form-urlencoded` text with PHP's bracket rules:
 * `a[b][c]=1` nests, `a[]=1` appends, the last duplicate scalar wins.
 */
export function parseForm(text: string): FormObject {
  const root: FormObject = {};
  for (const [rawKey, value] of new URLSearchParams(text)) {
    const segments = keySegments(rawKey);
    let node: FormObject = root;
    for (let i = 0; i < segments.length; i++) {
      let seg = segments[i]!;
      const last = i === segments.length - 1;
      if (seg === '') seg = String(Object.keys(node).length);
      if (last) {
        node[seg] = value;
      } else {
        const next = node[seg];
        if (next === undefined || typeof next === 'string' || Array.isArray(next)) node[seg] = {};
        node = node[seg] as FormObject;
      }
    }
  }
  return listify(root) as FormObject;
}
