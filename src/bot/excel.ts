import ExcelJS from 'exceljs';
import { toolTitles } from '../agent/answer.ts';
import { infoOf } from '../metrics/figures.ts';
import { formatPeriodRu } from '../metrics/period.ts';
import type { Envelope } from '../metrics/types.ts';

const numFmt: Record<string, string> = {
  money: '# ##0 ₽',
  share: '0.0%',
  days: '0.0',
  decimal: '0.0',
  int: '# ##0',
  score: '# ##0',
};

/**
 * The "Excel" button: the figures, the groups and the drill-down rows behind
 * an answer, as a workbook a head of sales can filter and forward.
 */
export async function envelopeToXlsx(env: Envelope): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  wb.creator = 'Voronka';
  const summary = wb.addWorksheet('Итоги');
  summary.columns = [
    { header: 'Показатель', key: 'label', width: 40 },
    { header: 'Значение', key: 'value', width: 18 },
  ];
  summary.addRow({ label: toolTitles[env.metric] ?? env.metric, value: formatPeriodRu(env.period) });
  for (const [code, value] of Object.entries(env.figures)) {
    const info = infoOf(code);
    const row = summary.addRow({
      label: info.label,
      value: info.format === 'duration' && value !== null ? value / 86400 : value,
    });
    row.getCell('value').numFmt = info.format === 'duration' ? '[m]:ss' : (numFmt[info.format] ?? 'General');
  }
  if (env.groups?.length) {
    const codes = [...new Set(env.groups.flatMap((g) => Object.keys(g.figures)))];
    const sheet = wb.addWorksheet('Группы');
    sheet.columns = [
      { header: 'Группа', key: 'label', width: 32 },
      ...codes.map((c) => ({ header: infoOf(c).label, key: c, width: 18 })),
    ];
    for (const g of env.groups) {
      const row = sheet.addRow({ label: g.label, ...g.figures });
      codes.forEach((c) => {
        row.getCell(c).numFmt = numFmt[infoOf(c).format] ?? 'General';
      });
    }
  }
  if (env.items?.length) {
    const keys = [...new Set(env.items.flatMap((i) => Object.keys(i)))];
    const sheet = wb.addWorksheet('Записи');
    sheet.columns = keys.map((k) => ({ header: k, key: k, width: k === 'title' ? 36 : 18 }));
    for (const item of env.items) {
      sheet.addRow(
        Object.fromEntries(keys.map((k) => [k, item[k] instanceof Date ? item[k] : (item[k] ?? null)])),
      );
    }
  }
  for (const ws of wb.worksheets) ws.getRow(1).font = { bold: true };
  return Buffer.from(await wb.xlsx.writeBuffer());
}
