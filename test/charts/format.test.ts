import { createRequire } from 'node:module';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatOutOf,
  formatPeriod,
  formatTimeLabel,
  formatValue,
  shortenLabels,
  timeUnitOf,
  truncateLabel,
  wrapLabel,
} from '../../src/charts/format.ts';
import { colorFor, colorsFor, isKnownSource } from '../../src/charts/palette.ts';
import { plain } from './envelopes.ts';

describe('periods in words', () => {
  it.each([
    [{ from: '2026-03-01', to: '2026-03-31' }, '1–31 марта 2026'],
    [{ from: '2026-03-18', to: '2026-03-18' }, '18 марта 2026'],
    [{ from: '2026-02-01', to: '2026-03-31' }, '1 февраля – 31 марта 2026'],
    [{ from: '2025-12-29', to: '2026-01-04' }, '29 декабря 2025 – 4 января 2026'],
  ])('%j → %s', (period, text) => {
    expect(formatPeriod(period)).toBe(text);
  });
});

describe('values as a head of sales reads them', () => {
  it.each([
    ['count', 1398, '1 398'],
    ['money', 1_200_000, '1,2 млн ₽'],
    ['money', 960_000, '960 тыс. ₽'],
    ['money', 850, '850 ₽'],
    ['share', 0.184, '18,4 %'],
    ['share', 1.25, '125 %'],
    ['seconds', 227, '3:47'],
    ['seconds', 3725, '1:02:05'],
    ['days', 4.46, '4,5 дн.'],
    ['decimal', 12.44, '12,4'],
    ['share', null, '—'],
  ] as const)('%s %s → %s', (kind, value, text) => {
    expect(plain(formatValue(kind, value))).toBe(text);
  });

  it('writes fact out of plan in the plan’s unit', () => {
    expect(plain(formatOutOf('money', 960_000, 1_500_000))).toBe('0,96 из 1,5 млн ₽');
    expect(plain(formatOutOf('money', 420_000, 500_000))).toBe('420 из 500 тыс. ₽');
    expect(plain(formatOutOf('count', 12, 20))).toBe('12 из 20');
  });

  it('formats durations over an hour with hours', () => {
    expect(formatDuration(59)).toBe('0:59');
    expect(formatDuration(3600)).toBe('1:00:00');
  });
});

describe('time labels', () => {
  it('recognises days, weeks, months and quarters', () => {
    expect(timeUnitOf(['2026-03-01', '2026-03-02'])).toBe('day');
    expect(timeUnitOf(['2026-W10', '2026-W11'])).toBe('week');
    expect(timeUnitOf(['2026-01', '2026-02'])).toBe('month');
    expect(timeUnitOf(['2026-Q1', '2026-Q2'])).toBe('quarter');
    expect(timeUnitOf(['Авито', '2026-03'])).toBeNull();
  });

  it('writes them short', () => {
    expect(formatTimeLabel('2026-03-08', 'day', true)).toBe('8 мар');
    expect(formatTimeLabel('2026-W10', 'week', true)).toBe('нед. 10');
    expect(formatTimeLabel('2026-05', 'month', true)).toBe('май');
    expect(formatTimeLabel('2025-12', 'month', false)).toBe('дек 2025');
    expect(formatTimeLabel('2026-Q2', 'quarter', true)).toBe('II кв. 2026');
  });
});

describe('shortened names', () => {
  const keep = (label: string) => isKnownSource(label);
  const fit = { width: 232, size: 21 };

  it('shortens people to first name and surname initial', () => {
    expect(shortenLabels(['Алексей Чуркин', 'Марина Соколова'], fit, keep)).toEqual([
      'Алексей Ч.',
      'Марина С.',
    ]);
  });

  it('reads "Фамилия Имя Отчество" the Russian way', () => {
    expect(shortenLabels(['Михайлов Константин Андреевич'], fit, keep)).toEqual(['Константин М.']);
  });

  it('adds surname letters until two people differ', () => {
    expect(shortenLabels(['Алексей Чуркин', 'Алексей Чернов', 'Алексей Чуев'], fit, keep)).toEqual([
      'Алексей Чур.',
      'Алексей Че.',
      'Алексей Чуе.',
    ]);
  });

  it('leaves sources and lowercase phrases alone and cuts long labels with an ellipsis', () => {
    expect(
      shortenLabels(
        ['Яндекс Директ', 'Холодные звонки', 'Без менеджера', 'Партнёрская программа застройщиков'],
        fit,
        keep,
      ),
    ).toEqual(['Яндекс Директ', 'Холодные звонки', 'Без менеджера', 'Партнёрская…']);
  });

  it('fits cut labels into the side axis as the renderer measures them', () => {
    const require = createRequire(import.meta.url);
    GlobalFonts.registerFromPath(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'), 'DejaVu Sans');
    const ctx = createCanvas(10, 10).getContext('2d');
    ctx.font = '21px "DejaVu Sans"';
    const long = [
      'Квалификация лида и выявление потребностей',
      'Выставка «Окна и двери — 2026» в Крокус Экспо',
      'ЩЖШЮ ЩЖШЮ ЩЖШЮ ЩЖШЮ',
      'Mmmmmmmmmmmmmmmmmmmmmmmm',
    ];
    for (const label of long) {
      const cut = truncateLabel(label, fit);
      expect(cut.endsWith('…')).toBe(true);
      expect(ctx.measureText(cut).width).toBeLessThanOrEqual(fit.width);
    }
    expect(wrapLabel('Коммерческое предложение отправлено', fit)).toEqual(['Коммерческое', 'предложение…']);
  });
});

describe('colours', () => {
  it('gives known sources their fixed colours however they are spelled', () => {
    expect(colorFor('Авито')).toBe('#00AAFF');
    expect(colorFor('Яндекс Директ')).toBe(colorFor('Яндекс.Директ'));
    expect(colorFor('Лиды', 'avito')).toBe('#00AAFF');
  });

  it('gives a name the same colour on every call, and distinct colours within one chart', () => {
    const names = ['Алексей Чуркин', 'Марина Соколова', 'Дмитрий Орлов', 'Ольга Петрова', 'Игорь Смирнов'];
    expect(colorFor('Марина Соколова')).toBe(colorFor('марина соколова'));
    const colors = colorsFor(names.map((label) => ({ label })));
    expect(new Set(colors).size).toBe(names.length);
  });
});
