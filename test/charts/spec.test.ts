import { describe, expect, it } from 'vitest';
import { type ChartSpec, chartSpecFor } from '../../src/charts/index.ts';
import type { Envelope } from '../../src/metrics/types.ts';
import { at, datasetByLabel, envelope, plain, titles } from './envelopes.ts';

const neutralGrey = '#A0A7B4';

function colorsOf(s: ChartSpec): string[] {
  return (s.data.datasets[0]?.backgroundColor ?? []) as string[];
}

function dataOf(s: ChartSpec): number[] {
  return (s.data.datasets[0]?.data ?? []) as number[];
}

function spec(envelopeName: string, opts: Parameters<typeof chartSpecFor>[1] = {}): ChartSpec {
  const result = chartSpecFor(envelope(envelopeName), opts);
  if (!result) throw new Error(`no chart for ${envelopeName}`);
  return result;
}

describe('bars by manager', () => {
  const calls = spec('calls_by_manager');

  it('plots calls per manager, largest first, horizontally', () => {
    expect(calls.type).toBe('bar');
    expect(at(calls, 'options.indexAxis')).toBe('y');
    expect(calls.data.labels).toEqual([
      'Марина С.',
      'Екатерина В.',
      'Алексей Чу.',
      'Ольга П.',
      'Дмитрий О.',
      'Алексей Че.',
      'Игорь С.',
      'Без менеджера',
    ]);
    expect(calls.data.datasets[0]?.data).toEqual([538, 451, 412, 365, 297, 240, 188, 64]);
  });

  it('writes the values beside the bars and the total under the title', () => {
    expect(plain(at(calls, 'options.scales.yValues.labels'))).toEqual([
      '538',
      '451',
      '412',
      '365',
      '297',
      '240',
      '188',
      '64',
    ]);
    expect(titles(calls)).toEqual({ title: 'Звонки · 1–31 марта 2026', subtitle: 'Всего: 2 555' });
  });

  it('gives every manager an own colour and "Без менеджера" the neutral grey', () => {
    const colors = colorsOf(calls);
    expect(colors).toHaveLength(8);
    expect(new Set(colors.slice(0, 7)).size).toBe(7);
    expect(colors[7]).toBe(neutralGrey);
  });

  it('keeps a manager in the same colour in another chart', () => {
    const sales = spec('deals_won_by_manager');
    const colorOf = (s: ChartSpec, label: string) => colorsOf(s)[s.data.labels.indexOf(label)];
    for (const manager of ['Марина С.', 'Екатерина В.', 'Ольга П.', 'Дмитрий О.']) {
      expect(colorOf(sales, manager)).toBe(colorOf(calls, manager));
    }
  });

  it('puts the tail of a long list into "Другие" with its sum', () => {
    const sales = spec('deals_won_by_manager');
    expect(sales.data.labels).toHaveLength(10);
    expect(sales.data.labels[0]).toBe('Марина С.');
    expect(sales.data.labels[9]).toBe('Другие (4)');
    expect(sales.data.datasets[0]?.data).toEqual([
      2310000, 1840000, 1620000, 1275000, 1050000, 960000, 890000, 715000, 540000, 1245000,
    ]);
    expect(colorsOf(sales)[9]).toBe(neutralGrey);
    const values = plain(at(sales, 'options.scales.yValues.labels')) as string[];
    expect(values[0]).toBe('2,3 млн ₽');
    expect(values[5]).toBe('960 тыс. ₽');
    expect(values[9]).toBe('1,2 млн ₽');
    expect(titles(sales)).toEqual({ title: 'Сумма продаж · 1–31 марта 2026', subtitle: 'Всего: 12,4 млн ₽' });
  });

  it('labels money axes in rubles and share axes in percent', () => {
    expect(at(spec('deals_won_by_manager'), 'options.scales.x.ticks.format')).toMatchObject({
      style: 'currency',
      currency: 'RUB',
      notation: 'compact',
    });
    expect(
      at(spec('leads_by_source', { figure: 'conv_to_deal' }), 'options.scales.x.ticks.format'),
    ).toMatchObject({
      style: 'percent',
    });
    expect(at(calls, 'options.locale')).toBe('ru-RU');
  });

  it('draws talk time in minutes and writes it as m:ss', () => {
    const talk = spec('calls_by_manager', { figure: 'talk_time_avg' });
    expect(talk.data.labels[0]).toBe('Марина С.');
    expect(talk.data.datasets[0]?.data[0]).toBeCloseTo(254 / 60, 2);
    expect(talk.data.labels[7]).toBe('Без менеджера');
    expect(talk.data.datasets[0]?.data[7]).toBeNull();
    const values = at(talk, 'options.scales.yValues.labels') as string[];
    expect(values.slice(0, 3)).toEqual(['4:14', '3:59', '3:47']);
    expect(values[7]).toBe('—');
    expect(titles(talk).title).toBe('Средняя длительность разговора · 1–31 марта 2026');
  });

  it('draws shares sorted, with percents beside the bars', () => {
    const conv = spec('leads_by_source', { figure: 'conv_to_deal' });
    expect(conv.data.labels.slice(0, 3)).toEqual(['Рекомендации', 'Выставка «Окна и…', 'Сайт']);
    expect(conv.data.datasets[0]?.data.slice(0, 3)).toEqual([0.458, 0.396, 0.276]);
    expect(plain(at(conv, 'options.scales.yValues.labels') as string[]).slice(0, 3)).toEqual([
      '45,8 %',
      '39,6 %',
      '27,6 %',
    ]);
  });

  it('counts drill-down items per manager when a list came back', () => {
    const forgotten = spec('forgotten_deals_items');
    expect(forgotten.data.labels).toEqual([
      'Дмитрий О.',
      'Алексей Ч.',
      'Игорь С.',
      'Без менеджера',
      'Марина С.',
    ]);
    expect(forgotten.data.datasets[0]?.data).toEqual([3, 2, 2, 1, 1]);
    expect(titles(forgotten)).toEqual({
      title: 'Забытые сделки · 18 марта 2026',
      subtitle: 'Всего: 9 · порог: 14 дней без активности',
    });
  });
});

describe('dynamics', () => {
  const march = [
    24, 112, 118, 109, 121, 98, 31, 12, 35, 124, 117, 113, 102, 28, 22, 119, 126, 111, 120, 97, 30, 19, 115,
    122, 118, 116, 104, 27, 21, 117, 125,
  ];
  const february = [
    18, 104, 110, 99, 115, 93, 26, 20, 101, 108, 112, 106, 95, 24, 17, 109, 114, 103, 111, 90, 25, 16, 38,
    107, 113, 110, 98, 29,
  ];

  it('draws days as a line with the previous period dashed, day by day', () => {
    const daily = spec('calls_by_day', { previous: envelope('calls_by_day_prev') });
    expect(daily.type).toBe('line');
    expect(daily.data.labels).toHaveLength(31);
    expect(daily.data.labels[0]).toBe('1 мар');
    expect(daily.data.labels[30]).toBe('31 мар');
    const current = datasetByLabel(daily, '1–31 марта 2026');
    expect(current.data).toEqual(march);
    expect(current.borderDash).toBeUndefined();
    const previous = datasetByLabel(daily, '1–28 февраля 2026 (пред. период)');
    expect(previous.data).toEqual([...february, null, null, null]);
    expect(previous.borderDash).toEqual([10, 7]);
    expect(titles(daily)).toEqual({
      title: 'Звонки · 1–31 марта 2026',
      subtitle: 'Всего: 2 653 · пред. период: 2 211 (+20 %)',
    });
    expect(at(daily, 'options.plugins.legend.display')).toBe(true);
  });

  it('draws one line without a legend when there is no previous period', () => {
    const daily = spec('calls_by_day');
    expect(daily.data.datasets).toHaveLength(1);
    expect(at(daily, 'options.plugins.legend.display')).toBe(false);
  });

  it('names months, with years when the series crosses a new year', () => {
    const monthly = spec('won_amount_by_month');
    expect(monthly.type).toBe('line');
    expect(monthly.data.labels).toEqual([
      'окт 2025',
      'ноя 2025',
      'дек 2025',
      'янв 2026',
      'фев 2026',
      'мар 2026',
    ]);
    expect(monthly.data.datasets[0]?.data).toEqual([8420000, 9150000, 12780000, 6230000, 9870000, 12445000]);
    expect(titles(monthly)).toEqual({
      title: 'Сумма продаж · 1 октября 2025 – 31 марта 2026',
      subtitle: 'Всего: 58,9 млн ₽',
    });
  });

  it('keeps days in calendar order as bars when bars are asked for, without values over 31 narrow columns', () => {
    const shuffled = envelope('calls_by_day');
    shuffled.groups = [...(shuffled.groups ?? [])].reverse();
    const bars = chartSpecFor(shuffled, { kind: 'bar' });
    expect(bars?.type).toBe('bar');
    expect(at(bars, 'options.indexAxis')).toBe('x');
    expect(bars?.data.labels[0]).toBe('1 мар');
    expect(bars?.data.datasets[0]?.data).toEqual(march);
    expect(at(bars, 'options.scales.xValues')).toBeUndefined();
  });
});

describe('lead states by source', () => {
  const leads = spec('leads_by_source');

  it('stacks new / in work / qualified / junk per source, sources by received', () => {
    expect(leads.data.labels).toEqual([
      'Яндекс.Директ',
      'Авито',
      'Сайт',
      'ВКонтакте',
      'Рекомендации',
      'Telegram',
      'Холодные звонки',
      'Выставка «Окна и…',
    ]);
    expect(leads.data.datasets.map((d) => d.label)).toEqual([
      'Новые',
      'В работе',
      'Качественные',
      'Некачественные',
    ]);
    expect(datasetByLabel(leads, 'Новые').data).toEqual([31, 18, 12, 9, 3, 6, 2, 1]);
    expect(datasetByLabel(leads, 'Некачественные').data).toEqual([234, 166, 123, 85, 30, 47, 43, 21]);
    expect(at(leads, 'options.scales.x.stacked')).toBe(true);
    expect(at(leads, 'options.scales.y.stacked')).toBe(true);
    expect(at(leads, 'options.scales.yValues.labels')).toEqual([
      '402',
      '310',
      '254',
      '138',
      '96',
      '84',
      '61',
      '53',
    ]);
    expect(titles(leads)).toEqual({
      title: 'Лиды · 1–31 марта 2026',
      subtitle: 'Поступило: 1 398 · состояние на сегодня',
    });
  });

  it('cuts a long source name at a word with an ellipsis', () => {
    const long = leads.data.labels[7] as string;
    expect(long.endsWith('…')).toBe(true);
    expect(long.length).toBeLessThanOrEqual(22);
  });
});

describe('shares', () => {
  it('draws a partition of the whole (incoming calls by channel) as a doughnut with fixed source colours', () => {
    const channels = spec('calls_by_channel');
    expect(channels.type).toBe('doughnut');
    expect(plain(channels.data.labels)).toEqual([
      'Основная линия — 512 (52,2 %)',
      'Авито — 203 (20,7 %)',
      'Яндекс.Директ — 148 (15,1 %)',
      'Сайт (коллтрекинг) — 118 (12 %)',
    ]);
    expect(channels.data.datasets[0]?.data).toEqual([512, 203, 148, 118]);
    const colors = colorsOf(channels);
    expect(colors[1]).toBe('#00AAFF');
    expect(colors[2]).toBe('#F5B700');
    expect(titles(channels).subtitle).toBe('Всего: 981');
  });

  it('keeps six slices and sums the rest into "Другие"', () => {
    const sources = spec('won_amount_by_source', { kind: 'doughnut' });
    expect(sources.data.datasets[0]?.data).toEqual([
      3120000, 2480000, 2210000, 1870000, 940000, 610000, 1215000,
    ]);
    expect(plain(sources.data.labels[0])).toBe('Авито — 3,1 млн ₽ (25,1 %)');
    expect(plain(sources.data.labels[6])).toBe('Другие (3) — 1,2 млн ₽ (9,8 %)');
    expect(colorsOf(sources)[6]).toBe(neutralGrey);
  });

  it('draws an average as bars even when a doughnut is asked for', () => {
    expect(spec('deals_won_by_manager', { kind: 'doughnut', figure: 'avg_check' }).type).toBe('bar');
  });
});

describe('funnels', () => {
  it('keeps deal stages in funnel order with the conversion from the previous stage', () => {
    const funnel = spec('stage_funnel');
    expect(at(funnel, 'options.indexAxis')).toBe('y');
    expect(funnel.data.datasets[0]?.data).toEqual([420, 336, 241, 188, 121, 86]);
    expect(plain(funnel.data.labels)).toEqual([
      'Первичный контакт',
      ['Выявление', 'потребностей', '→ 80 % из пред.'],
      ['Замер', '→ 71,7 % из пред.'],
      ['Коммерческое', 'предложение', '→ 78 % из пред.'],
      ['Переговоры о цене', '→ 64,4 % из пред.'],
      ['Договор подписан', '→ 71,1 % из пред.'],
    ]);
    expect(plain(at(funnel, 'options.scales.yValues.labels'))).toEqual([
      '420 · 100 %',
      '336 · 80 %',
      '241 · 57,4 %',
      '188 · 44,8 %',
      '121 · 28,8 %',
      '86 · 20,5 %',
    ]);
    expect(titles(funnel).title).toBe('Конверсия по этапам · 1–31 марта 2026');
    expect(titles(funnel).subtitle).toContain('Воронка: Продажи окон');
  });

  it('reads lead stage reach from its series', () => {
    const reach = spec('lead_stage_reach');
    expect(reach.data.datasets[0]?.data).toEqual([1398, 1120, 612, 304]);
    expect(plain(at(reach, 'options.scales.yValues.labels'))).toEqual([
      '1 398 · 100 %',
      '1 120 · 80,1 %',
      '612 · 43,8 %',
      '304 · 21,7 %',
    ]);
    expect(titles(reach).title).toBe('Прохождение стадий · 1–31 марта 2026');
  });
});

describe('calls by hour and weekday', () => {
  it('shows all 24 hours in order: the average as bars, the busiest day as a line', () => {
    const hours = spec('calls_by_hour');
    expect(hours.data.labels).toEqual(Array.from({ length: 24 }, (_, h) => String(h)));
    expect(datasetByLabel(hours, 'В среднем за день').data.slice(8, 12)).toEqual([4.8, 9.6, 12.4, 11.8]);
    const busiest = datasetByLabel(hours, 'Максимум за день');
    expect(busiest.type).toBe('line');
    expect(busiest.data.slice(8, 12)).toEqual([11, 19, 24, 22]);
    expect(titles(hours).title).toBe('Звонки по часам · 1–31 марта 2026');
  });

  it('orders weekdays Monday first whatever order they came in', () => {
    const shuffled = envelope('calls_by_weekday');
    shuffled.groups = [...(shuffled.groups ?? [])].reverse();
    const days = chartSpecFor(shuffled);
    expect(days?.data.labels).toEqual(['пн', 'вт', 'ср', 'чт', 'пт', 'сб', 'вс']);
    expect(datasetByLabel(days, 'В среднем за день').data).toEqual([
      118.4, 121.2, 112.6, 117.5, 100.3, 29, 19.6,
    ]);
    expect(at(days, 'options.scales.xValues.labels')).toEqual([
      '118,4',
      '121,2',
      '112,6',
      '117,5',
      '100,3',
      '29',
      '19,6',
    ]);
    expect(titles(days)).toEqual({
      title: 'Звонки по дням недели · 1–31 марта 2026',
      subtitle: 'исходящие · звонков за день: в среднем и максимум',
    });
  });
});

describe('plan against fact', () => {
  it('shows completion over the run-rate forecast per manager with the 100 % line', () => {
    const plan = spec('plan_progress');
    expect(plan.data.labels).toEqual([
      'Марина С.',
      'Алексей Ч.',
      'Екатерина В.',
      'Ольга П.',
      'Дмитрий О.',
      'Игорь С.',
    ]);
    expect(datasetByLabel(plan, 'Выполнение').data).toEqual([0.924, 0.92, 0.81, 0.708, 0.64, 0.358]);
    expect(datasetByLabel(plan, 'Прогноз выполнения').data).toEqual([1.55, 1.62, 1.37, 1.19, 1.08, 0.61]);
    const line = datasetByLabel(plan, '100 % плана');
    expect(line.type).toBe('line');
    expect(line.data).toEqual([
      { x: 1, y: 0 },
      { x: 1, y: 1 },
    ]);
    expect(plain(at(plan, 'options.scales.yValues.labels') as string[][]).slice(0, 2)).toEqual([
      ['92,4 % → 155 %', '2,31 из 2,5 млн ₽'],
      ['92 % → 162 %', '1,84 из 2 млн ₽'],
    ]);
    expect(titles(plan).subtitle).toBe(
      'Итого: 8,44 из 11 млн ₽ (76,7 %), прогноз 131 % · прогноз по темпу: 12 из 22 рабочих дней',
    );
  });

  it('draws a company plan as plan, fact and forecast columns against the plan line', () => {
    const company = spec('plan_progress_company');
    expect(company.data.labels).toEqual(['План', 'Факт', 'Прогноз по темпу']);
    const [plan, fact, forecast] = dataOf(company);
    expect(plan).toBe(15000000);
    expect(fact).toBe(9870000);
    expect(forecast).toBeCloseTo(18090000, 0);
    expect(datasetByLabel(company, '100 % плана').data).toEqual([
      { x: 0, y: 15000000 },
      { x: 1, y: 15000000 },
    ]);
    expect(plain(at(company, 'options.scales.xValues.labels'))).toEqual([
      '15 млн ₽',
      '9,9 млн ₽ · 65,8 %',
      '18,1 млн ₽ · 120,6 %',
    ]);
  });
});

describe('task discipline', () => {
  it('splits managers by the 64 % norm and draws the norm line', () => {
    const discipline = spec('task_discipline');
    expect(discipline.data.labels).toEqual([
      'Марина С.',
      'Алексей Чу.',
      'Ольга П.',
      'Екатерина В.',
      'Алексей Че.',
      'Дмитрий О.',
      'Игорь С.',
    ]);
    expect(datasetByLabel(discipline, 'Не ниже нормы').data).toEqual([
      0.788,
      0.711,
      0.687,
      0.66,
      null,
      null,
      null,
    ]);
    expect(datasetByLabel(discipline, 'Ниже нормы').data).toEqual([
      null,
      null,
      null,
      null,
      0.527,
      0.464,
      0.362,
    ]);
    expect(datasetByLabel(discipline, 'Норма 64 %').data).toEqual([
      { x: 0.64, y: 0 },
      { x: 0.64, y: 1 },
    ]);
    expect(plain(at(discipline, 'options.scales.yValues.labels') as string[][])[6]).toEqual([
      '36,2 %',
      '11 просроч. из 39',
    ]);
    expect(titles(discipline).subtitle).toContain('По компании: 62,4 %');
  });
});

describe('objections', () => {
  it('ranks objection types in Russian with their share of analyzed calls', () => {
    const top = spec('call_quality_objections');
    expect(top.data.labels).toEqual([
      'Дорого',
      'Подумаю',
      'У других дешевле',
      'Не сейчас',
      'Надо согласовать',
      'Не нужно',
      'Нет доверия',
      'Другое',
    ]);
    expect(top.data.datasets[0]?.data).toEqual([64, 41, 27, 22, 15, 9, 7, 4]);
    expect(plain(at(top, 'options.scales.yValues.labels') as string[])[0]).toBe('64 · 26,7 %');
    expect(titles(top)).toEqual({
      title: 'Топ возражений · 1–31 марта 2026',
      subtitle: 'разобрано звонков: 240',
    });
  });

  it('keeps the ten most frequent', () => {
    const many = envelope('call_quality_objections');
    const extra = ['сроки монтажа', 'гарантия', 'нужен замер', 'рассрочка'].map((label, i) => ({
      key: `custom-${i}`,
      label,
      figures: { count: 3 - (i % 2), share: 0.01 },
    }));
    many.groups = [...(many.groups ?? []), ...extra];
    const top = chartSpecFor(many);
    expect(top?.data.labels).toHaveLength(10);
    expect(top?.data.labels.slice(8)).toEqual(['нужен замер', 'сроки монтажа']);
    expect(titles(top).subtitle).toContain('показаны 10 из 12');
  });
});

describe('when a chart adds nothing or there is nothing to draw', () => {
  it('returns null for a headline without groups', () => {
    expect(chartSpecFor(envelope('calls_headline'))).toBeNull();
  });

  it('returns null for a single manager', () => {
    const one = envelope('calls_by_manager');
    one.groups = one.groups?.slice(0, 1);
    expect(chartSpecFor(one)).toBeNull();
  });

  it.each([
    ['leads_by_source_empty', 'Поступило лидов · 1–7 января 2026', 'Нет данных за период / Источник: Авито'],
    ['calls_by_manager_zero', 'Звонки · 1 января 2026', 'Нет данных за период'],
  ])('draws "Нет данных за период" for %s', (name, title, subtitle) => {
    const empty = spec(name);
    expect(empty.data.datasets).toEqual([]);
    expect(titles(empty)).toEqual({ title, subtitle });
  });

  it('draws "Нет данных за период" for a plan with no plan and no sales', () => {
    const none: Envelope = {
      metric: 'plan_progress',
      period: { from: '2026-04-01', to: '2026-04-30' },
      filters: {},
      figures: { plan: 0, fact: 0 },
      groups: [],
    };
    expect(titles(chartSpecFor(none)).subtitle).toBe('Нет данных за период');
  });
});

describe('every spec', () => {
  const all: [string, Parameters<typeof chartSpecFor>[1]][] = [
    ['calls_by_manager', {}],
    ['deals_won_by_manager', {}],
    ['calls_by_day', { previous: envelope('calls_by_day_prev') }],
    ['leads_by_source', {}],
    ['calls_by_channel', {}],
    ['won_amount_by_source', { kind: 'doughnut' }],
    ['stage_funnel', {}],
    ['lead_stage_reach', {}],
    ['calls_by_hour', {}],
    ['plan_progress', {}],
    ['plan_progress_company', {}],
    ['task_discipline', {}],
    ['call_quality_objections', {}],
    ['leads_by_source_empty', {}],
  ];

  it.each(all)('%s is plain JSON that QuickChart can take as is', (name, opts) => {
    const result = spec(name, opts);
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    expect(JSON.stringify(result)).not.toMatch(/function|=>/);
  });

  it.each(all)('%s names the metric and the period in the title', (name, opts) => {
    expect(titles(spec(name, opts)).title).toMatch(/\d{4}$/);
  });
});
