import type { ParserContext } from '../../src/agent/parser/index.ts';

/** The demo company the question banks are written against. */
export const bankContext: ParserContext = {
  managers: [
    { id: 'm1', name: 'Алексей Чуркин' },
    { id: 'm2', name: 'Алексей Смирнов' },
    { id: 'm3', name: 'Марина Соколова' },
    { id: 'm4', name: 'Игорь Петров' },
    { id: 'm5', name: 'Ольга Кузнецова' },
    { id: 'm6', name: 'Дмитрий Смирнов' },
    { id: 'm7', name: 'Наталья Волкова' },
    { id: 'm8', name: 'Сергей Морозов' },
    { id: 'm9', name: 'Елена Новикова' },
    { id: 'm10', name: 'Павел Лебедев' },
  ],
  departments: [
    { id: 'd1', name: 'Отдел продаж Москва' },
    { id: 'd2', name: 'Отдел продаж Регионы' },
  ],
  sources: [
    { id: 's1', name: 'Авито' },
    { id: 's2', name: 'Сайт' },
    { id: 's3', name: 'Яндекс.Директ' },
    { id: 's4', name: 'Лид-перехват' },
    { id: 's5', name: 'Рекомендация' },
    { id: 's6', name: 'Холодный обзвон' },
  ],
  pipelines: [
    { id: 'p1', name: 'Продажи' },
    { id: 'p2', name: 'Повторные продажи' },
  ],
};

/** The fixed moment the banks assume: Monday 23 November 2026, 10:00 in Moscow. */
export const bankNow = new Date('2026-11-23T10:00:00+03:00');
