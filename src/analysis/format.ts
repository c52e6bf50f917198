import {
  type CallBreakdown,
  churnRiskLabelsRu,
  objectionLabelsRu,
  readinessBandLabelsRu,
  scriptStepLabelsRu,
  scriptSteps,
  stageLabelsRu,
} from './schema.ts';

const shortStepRu: Record<(typeof scriptSteps)[number], string> = {
  greeting: 'приветствие',
  need_identified: 'потребность',
  price_named: 'цена',
  next_step_offered: 'след. шаг',
  summary_agreed: 'итог',
};

/**
 * The breakdown as compact Russian text for a messenger message: readiness,
 * risk, stage, objections with quotes, script steps, a few quotes, next step.
 */
export function formatBreakdownRu(b: CallBreakdown): string {
  const lines: string[] = [];
  lines.push(`Разбор звонка ${b.call_id}`);
  lines.push(
    `Готовность купить: ${b.readiness}/100 (${readinessBandLabelsRu[b.readiness_band]}) · Риск потери: ${churnRiskLabelsRu[b.churn_risk]}`,
  );
  lines.push(`Стадия: ${stageLabelsRu[b.stage]}`);
  if (!b.lead_quality.target) lines.push(`Нецелевой: ${b.lead_quality.reason}`);

  if (b.objections.length > 0) {
    lines.push('Возражения:');
    for (const o of b.objections) {
      lines.push(
        `${o.handled ? '✓' : '✗'} ${objectionLabelsRu[o.type]}: «${clip(o.quote)}»${o.handled ? '' : ' — не отработано'}`,
      );
    }
  } else {
    lines.push('Возражений нет');
  }

  lines.push(
    `Скрипт: ${scriptSteps.map((s) => `${b.script[s].done ? '✓' : '✗'} ${shortStepRu[s]}`).join(' · ')}`,
  );

  const quoted = new Set(b.objections.map((o) => o.quote));
  const notes: string[] = [];
  for (const r of [...b.misses, ...b.strengths]) {
    if (notes.length >= 3 || r.quote === null || quoted.has(r.quote)) continue;
    quoted.add(r.quote);
    notes.push(`«${clip(r.quote)}» — ${lowerFirst(r.text)}`);
  }
  for (const step of scriptSteps) {
    const q = b.script[step].quote;
    if (notes.length >= 2 || q === null || quoted.has(q)) continue;
    quoted.add(q);
    notes.push(`«${clip(q)}» — ${lowerFirst(scriptStepLabelsRu[step])}`);
  }
  if (notes.length > 0) {
    lines.push('Цитаты:');
    for (const n of notes) lines.push(`• ${n}`);
  }
  const missesWithoutQuote = b.misses.filter((m) => m.quote === null).map((m) => lowerFirst(m.text));
  if (missesWithoutQuote.length > 0) lines.push(`Упущено: ${missesWithoutQuote.join('; ')}`);
  lines.push(`Следующий шаг: ${b.next_step}`);
  return lines.join('\n');
}

function clip(quote: string): string {
  return quote.length <= 140 ? quote : `${quote.slice(0, 137).replace(/\s+\S*$/u, '')}…`;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
