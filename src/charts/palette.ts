import { normalizeName } from './format.ts';

/**
 * Colours that follow a source or a manager from chart to chart: known lead
 * sources have fixed brand-like colours, everything else takes a colour from
 * a palette by a hash of its name, so "Марина Соколова" is the same orange in
 * the calls chart and in the sales chart.
 */

const palette = [
  '#4E79A7',
  '#F28E2B',
  '#E15759',
  '#76B7B2',
  '#59A14F',
  '#B07AA1',
  '#9C755F',
  '#FF9DA7',
  '#3B5BA9',
  '#2CA58D',
  '#D37295',
  '#8CD17D',
];

/** Groups that stand for "nobody" or "the rest". */
export const neutralColor = '#A0A7B4';

const knownSources: [string[], string][] = [
  [['авито', 'avito'], '#00AAFF'],
  [['сайт', 'site', 'website', 'заявкассайта'], '#6A4C93'],
  [['яндексдирект', 'директ', 'yandexdirect', 'яндекс', 'yandex'], '#F5B700'],
  [['вконтакте', 'вк', 'vk', 'vkontakte'], '#1A3D8F'],
  [['telegram', 'телеграм', 'телеграмм'], '#5C6BC0'],
  [['whatsapp', 'ватсап', 'вотсап'], '#25D366'],
  [['googleads', 'google', 'гугл'], '#EA4335'],
  [['2гис', '2gis'], '#8BC34A'],
  [['рекомендация', 'рекомендации', 'сарафанноерадио', 'сарафан', 'referral'], '#8D6E63'],
  [['холодныезвонки', 'холодныйзвонок', 'cold'], '#607D8B'],
  [['входящийзвонок', 'звонок', 'телефон', 'phone'], '#009688'],
  [['email', 'почта', 'рассылка'], '#FF7043'],
  [['instagram', 'инстаграм'], '#C13584'],
];

const fixedColors = new Map<string, string>();
for (const [names, color] of knownSources) for (const name of names) fixedColors.set(name, color);

const neutralNames = new Set([
  'безменеджера',
  'безканала',
  'безисточника',
  'безкампании',
  'другие',
  'неизвестно',
]);

/** Whether a label is a known lead source (never shortened as a person's name). */
export function isKnownSource(label: string): boolean {
  return fixedColors.has(normalizeName(label));
}

function isNeutral(name: string): boolean {
  return neutralNames.has(name) || name.startsWith('другие');
}

/** FNV-1a: small, stable across processes and versions (unlike anything seeded). */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The colour of one label (a fixed colour, the neutral grey, or its palette slot). */
export function colorFor(label: string, key?: string): string {
  const name = normalizeName(label);
  const fixed = fixedColors.get(name) ?? (key ? fixedColors.get(normalizeName(key)) : undefined);
  if (fixed) return fixed;
  if (isNeutral(name)) return neutralColor;
  return palette[hash(name) % palette.length] as string;
}

/**
 * Colours for the labels of one chart: each label keeps its own colour unless
 * another label of the same chart already took it, then the next free palette
 * slot is used, so two bars never share a colour by accident.
 */
export function colorsFor(labels: readonly { label: string; key?: string }[]): string[] {
  const used = new Set<string>();
  return labels.map(({ label, key }) => {
    const own = colorFor(label, key);
    if (own === neutralColor) return own;
    if (!used.has(own)) {
      used.add(own);
      return own;
    }
    const start = palette.indexOf(own);
    for (let step = 1; step <= palette.length; step++) {
      const candidate = palette[(Math.max(start, 0) + step) % palette.length] as string;
      if (!used.has(candidate)) {
        used.add(candidate);
        return candidate;
      }
    }
    return own;
  });
}

/** Lead states of `lead_stats` (Новые / В работе / Качественные / Некачественные). */
export const leadStateColors = {
  new: '#94A3B8',
  in_work: '#3B82F6',
  qualified: '#22C55E',
  junk: '#EF4444',
} as const;

export const seriesColors = {
  primary: '#2563EB',
  primaryFill: 'rgba(37, 99, 235, 0.12)',
  previous: '#94A3B8',
  previousFill: 'rgba(148, 163, 184, 0.15)',
  secondary: '#F28E2B',
  light: '#BFDBFE',
  plan: '#9CA3AF',
  good: '#16A34A',
  bad: '#DC2626',
  reference: '#DC2626',
  referenceFill: 'rgba(220, 38, 38, 0.08)',
  funnel: '#3B82F6',
  objection: '#F97316',
} as const;
