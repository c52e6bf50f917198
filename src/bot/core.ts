import { randomBytes } from 'node:crypto';
import { answerText, escapeHtml } from '../agent/answer.ts';
import { type AnswerEngine, helpText } from '../agent/engine.ts';
import { type DialogueState, emptyDialogueState } from '../agent/parser/types.ts';
import type { ToolRegistry } from '../agent/registry.ts';
import type { ToolRequest } from '../agent/request.ts';
import type { Db } from '../db/client.ts';
import { handleDigestCommand } from '../digests/commands.ts';
import type { DigestBuilder } from '../digests/content.ts';
import { AppError, userMessageOf } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { dataSummary } from '../metrics/summary.ts';
import type { Envelope, ToolInput } from '../metrics/types.ts';
import {
  type BotUserRow,
  callerOf,
  createInvite,
  findUser,
  type Identity,
  inviteCodeIn,
  listUsers,
  parseExpiry,
  type Role,
  redeemInvite,
} from './access.ts';
import { breakdownReply, headRecipients, type SendToUser } from './breakdowns.ts';
import { envelopeToXlsx } from './excel.ts';
import { formatDate, formatInt } from './format.ts';

/** A button under a reply; `data` is short (Telegram allows 64 bytes) and validated on return. */
export interface Button {
  label: string;
  data: string;
}

/** What the bot says back, transport-agnostic: each adapter renders it its own way. */
export interface Reply {
  text: string;
  /** The same text as Telegram HTML (escaped). */
  html: string;
  chart?: { png: Buffer; caption?: string } | undefined;
  buttons?: Button[][] | undefined;
  file?: { name: string; data: Buffer; mime: string } | undefined;
}

/** Renders the chart of a result, or null when a chart adds nothing. */
export type ChartMaker = (envelope: Envelope) => Promise<Buffer | null>;

export interface CoreDeps {
  db: Db;
  engine: AnswerEngine;
  registry: ToolRegistry;
  tz: string;
  now: () => Date;
  logger: Logger;
  chart?: ChartMaker | undefined;
  /** Questions per user per minute before "не так быстро". */
  rateLimitPerMinute?: number;
  /** Telegram bot username for invite deep links. */
  botUsername?: string | undefined;
  /** Messages to other users (a disputed breakdown goes to the heads). */
  sendToUser?: SendToUser | undefined;
  /** Builds `/digest preview`. */
  digestBuilder?: DigestBuilder | undefined;
}

/** Per-chat state kept in PostgreSQL: the parser's dialogue and the requests buttons refer to. */
interface ChatState {
  dialogue: DialogueState;
  requests: Array<{ id: string; request: ToolRequest }>;
  strangerRefusedAt?: string;
  /** A call whose breakdown the user pressed "Оспорить" on: their next message is the comment. */
  disputeCallId?: string | undefined;
}

const emptyChatState = (): ChatState => ({ dialogue: emptyDialogueState, requests: [] });

export const STRANGER_REPLY =
  'Здравствуйте! Я работаю только по приглашению. Попросите администратора прислать код приглашения и отправьте его сюда.';

const plain = (text: string, extra: Partial<Reply> = {}): Reply => ({
  text,
  html: escapeHtml(text),
  ...extra,
});

const periodButtons: Array<[string, string]> = [
  ['Сегодня', 'today'],
  ['Вчера', 'yesterday'],
  ['7 дней', 'last_7_days'],
  ['Месяц', 'this_month'],
];
const periodCode: Record<string, string> = { today: 't', yesterday: 'y', last_7_days: 'w', this_month: 'm' };
const periodOfCode: Record<string, string> = Object.fromEntries(
  Object.entries(periodCode).map(([k, v]) => [v, k]),
);

const LIST_PAGE = 10;

/**
 * The conversation core shared by Telegram, WhatsApp and the console: who is
 * asking, per-chat dialogue state in the database, commands, rate limits, and
 * replies with charts, buttons and files.
 */
export function createConversationCore(deps: CoreDeps) {
  const rateLimit = deps.rateLimitPerMinute ?? 20;
  const chatKey = (id: Identity) => `${id.channel}:${id.chatId}`;

  async function loadState(id: Identity): Promise<ChatState> {
    const [row] = await deps.db.query<{ state: ChatState }>(
      'SELECT state FROM dialogue_states WHERE chat_key = $1',
      [chatKey(id)],
    );
    return row ? { ...emptyChatState(), ...row.state } : emptyChatState();
  }

  async function saveState(id: Identity, state: ChatState): Promise<void> {
    await deps.db.query(
      `INSERT INTO dialogue_states (chat_key, state, updated_at) VALUES ($1, $2::jsonb, $3)
       ON CONFLICT (chat_key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
      [chatKey(id), JSON.stringify(state), deps.now()],
    );
  }

  async function overRateLimit(user: BotUserRow): Promise<boolean> {
    const [row] = await deps.db.query<{ n: number }>(
      `SELECT count(*) AS n FROM question_log WHERE user_id = $1 AND created_at > $2`,
      [user.id, new Date(deps.now().getTime() - 60_000)],
    );
    return Number(row?.n ?? 0) >= rateLimit;
  }

  function answerButtons(reqId: string, request: ToolRequest, envelope: Envelope): Button[][] {
    const rows: Button[][] = [
      periodButtons.map(([label, name]) => ({ label, data: `r:${reqId}:p:${periodCode[name]}` })),
    ];
    const second: Button[] = [];
    const tool = deps.registry.get(request.tool);
    if (tool?.groupBy.includes('manager') && request.input.group_by !== 'manager') {
      second.push({ label: 'По менеджерам', data: `r:${reqId}:g` });
    }
    if (envelope.items?.length) second.push({ label: 'Список', data: `r:${reqId}:l:0` });
    second.push({ label: 'Excel', data: `r:${reqId}:x` });
    second.push({ label: 'Как считается?', data: `r:${reqId}:e` });
    rows.push(second);
    return rows;
  }

  async function answerReply(
    state: ChatState,
    request: ToolRequest,
    envelope: Envelope,
    text: string,
    html: string,
  ) {
    const reqId = randomBytes(3).toString('hex');
    state.requests = [...state.requests, { id: reqId, request }].slice(-20);
    let chart: Reply['chart'];
    if (deps.chart) {
      try {
        const png = await deps.chart(envelope);
        if (png) chart = { png };
      } catch (err) {
        deps.logger.warn(
          { err: (err as Error).message, metric: envelope.metric },
          'chart failed; answering with text only',
        );
      }
    }
    return { text, html, chart, buttons: answerButtons(reqId, request, envelope) } satisfies Reply;
  }

  async function logQuestion(
    user: BotUserRow | undefined,
    id: Identity,
    question: string,
    r: Partial<{ engine: string; intent: string; slots: unknown; confidence: number; error: string }>,
    ms: number,
  ) {
    await deps.db.query(
      `INSERT INTO question_log (user_id, chat_key, question, engine, intent, slots, confidence, duration_ms, error, created_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)`,
      [
        user?.id ?? null,
        chatKey(id),
        question,
        r.engine ?? 'none',
        r.intent ?? null,
        JSON.stringify(r.slots ?? null),
        r.confidence ?? null,
        Math.round(ms),
        r.error ?? null,
        deps.now(),
      ],
    );
  }

  async function commandReply(user: BotUserRow, text: string): Promise<Reply | ToolRequest | undefined> {
    const [command, ...args] = text.trim().split(/\s+/);
    const cmd = command!.replace(/@\w+$/, '').toLowerCase();
    switch (cmd) {
      case '/start':
      case '/help':
        return plain(helpText(user.role));
      case '/me': {
        const [m] = user.manager_id
          ? await deps.db.query<{ name: string; department: string | null }>(
              'SELECT m.name, d.name AS department FROM managers m LEFT JOIN departments d ON d.id = m.department_id WHERE m.id = $1',
              [user.manager_id],
            )
          : [];
        const roles: Record<Role, string> = {
          admin: 'администратор',
          head: 'руководитель',
          manager: 'менеджер',
        };
        return plain(
          [
            `Вы: ${user.name}`,
            `Роль: ${roles[user.role]}`,
            m ? `Менеджер в CRM: ${m.name}${m.department ? `, ${m.department}` : ''}` : null,
          ]
            .filter(Boolean)
            .join('\n'),
        );
      }
      case '/stats':
        return plain(await statsText(deps.db, deps.tz));
      case '/status': {
        if (user.role !== 'admin') return plain('Состояние синхронизации доступно только администраторам.');
        const { syncStatus, syncStatusText } = await import('../ingest/sync.ts');
        return plain(syncStatusText(await syncStatus(deps.db), deps.tz));
      }
      case '/calls':
        return {
          tool: 'calls_stats',
          input: { period: { name: 'today' } },
          highlight: [],
          sort: undefined,
          wantsList: false,
          filter: undefined,
          metric: undefined,
        };
      case '/forgotten':
        return {
          tool: 'forgotten_deals',
          input: {},
          highlight: [],
          sort: undefined,
          wantsList: true,
          filter: undefined,
          metric: undefined,
        };
      case '/plan':
        return {
          tool: 'plan_progress',
          input: { period: { name: 'this_month' } },
          highlight: [],
          sort: undefined,
          wantsList: false,
          filter: undefined,
          metric: undefined,
        };
      case '/invite': {
        if (user.role !== 'admin') return plain('Приглашать могут только администраторы.');
        const role = (args[0] ?? 'manager') as Role;
        if (!['admin', 'head', 'manager'].includes(role))
          return plain('Формат: /invite manager|head|admin ID_МЕНЕДЖЕРА [7d]');
        const { code, expiresAt } = await createInvite(deps.db, {
          role,
          managerId: args[1] ?? null,
          expiresInMs: parseExpiry(args[2] ?? '7d'),
          now: deps.now(),
        });
        return plain(inviteText(code, expiresAt, deps.tz, deps.botUsername));
      }
      case '/users': {
        if (user.role !== 'admin') return plain('Список пользователей доступен только администраторам.');
        const users = await listUsers(deps.db);
        return plain(
          users.length === 0
            ? 'Пользователей пока нет.'
            : users
                .map(
                  (u) =>
                    `${u.id}. ${u.name} — ${u.role}${u.manager_name ? ` (${u.manager_name})` : ''}${u.revoked_at ? ' — отозван' : ''}${u.channels ? ` [${u.channels}]` : ''}`,
                )
                .join('\n'),
        );
      }
      default:
        return cmd.startsWith('/') ? plain(`Не знаю команду ${cmd}. Наберите /help.`) : undefined;
    }
  }

  /** Handles one text message; returns the replies to send, in order. */
  async function handleText(id: Identity, text: string): Promise<Reply[]> {
    const t0 = performance.now();
    const user = await findUser(deps.db, id);
    if (!user) {
      const code = inviteCodeIn(text);
      if (code) {
        const bound = await redeemInvite(deps.db, code, id, deps.now());
        if (bound) {
          return [plain(`Готово, ${bound.name}! Доступ открыт.\n\n${helpText(bound.role)}`)];
        }
        return [
          plain(
            'Этот код приглашения недействителен: он уже использован или истёк. Попросите администратора новый.',
          ),
        ];
      }
      // One polite refusal a day per chat: strangers learn nothing about the company.
      const state = await loadState(id);
      const last = state.strangerRefusedAt ? new Date(state.strangerRefusedAt).getTime() : 0;
      if (deps.now().getTime() - last < 86_400_000) return [];
      state.strangerRefusedAt = deps.now().toISOString();
      await saveState(id, state);
      return [plain(STRANGER_REPLY)];
    }
    if (await overRateLimit(user)) {
      return [plain('Слишком много вопросов за минуту. Подождите немного и спросите снова.')];
    }
    const state = await loadState(id);
    if (state.disputeCallId && !text.startsWith('/')) {
      const callId = state.disputeCallId;
      state.disputeCallId = undefined;
      await saveState(id, state);
      return [plain(await forwardDispute(user, callId, text))];
    }
    try {
      if (/^\/digest(@\w+)?(\s|$)/i.test(text.trim())) {
        const replies = await handleDigestCommand(
          { db: deps.db, companyTz: deps.tz, now: deps.now, builder: deps.digestBuilder },
          user,
          id,
          text.trim().split(/\s+/).slice(1),
        );
        await logQuestion(user, id, text, { engine: 'none', intent: 'digest' }, performance.now() - t0);
        return replies;
      }
      const cmd = await commandReply(user, text);
      if (cmd && 'text' in cmd) {
        await logQuestion(user, id, text, { engine: 'none', intent: 'command' }, performance.now() - t0);
        return [cmd];
      }
      if (cmd) {
        const r = await deps.engine.runRequest(cmd, callerOf(user));
        const reply = await answerReply(state, cmd, r.envelope, r.text, r.html);
        await saveState(id, state);
        await logQuestion(user, id, text, { engine: 'parser', intent: cmd.tool }, performance.now() - t0);
        return [reply];
      }
      const result = await deps.engine.ask(text, { caller: callerOf(user), state: state.dialogue });
      state.dialogue = result.state;
      let reply: Reply;
      const first = result.calls[0];
      if (result.request && first)
        reply = await answerReply(state, result.request, first.result, result.answer, result.html);
      else reply = { text: result.answer, html: result.html };
      await saveState(id, state);
      await logQuestion(user, id, text, result, performance.now() - t0);
      return [reply];
    } catch (err) {
      deps.logger.error({ err, chat: chatKey(id) }, 'reply failed');
      await logQuestion(user, id, text, { error: (err as Error).message }, performance.now() - t0).catch(
        () => {},
      );
      return [plain(userMessageOf(err))];
    }
  }

  /** Handles a button press: re-runs the stored request with one argument changed. */
  async function handleButton(id: Identity, data: string): Promise<Reply[]> {
    const user = await findUser(deps.db, id);
    if (!user) return [];
    const dispute = /^d:(.{1,62})$/.exec(data);
    if (dispute) return [plain(await startDispute(id, user, dispute[1]!))];
    const m = /^r:([0-9a-f]{6}):(p:[tywm]|g|l:\d{1,4}|x|e)$/.exec(data);
    if (!m) return [plain('Эта кнопка устарела. Задайте вопрос заново.')];
    const state = await loadState(id);
    const stored = state.requests.find((r) => r.id === m[1]);
    if (!stored) return [plain('Эта кнопка устарела. Задайте вопрос заново.')];
    const action = m[2]!;
    const request: ToolRequest = structuredClone(stored.request);
    try {
      if (action === 'e') {
        const tool = deps.registry.get(request.tool);
        return [plain(tool?.explain ?? 'Для этой цифры объяснения нет.')];
      }
      if (action.startsWith('p:'))
        request.input = { ...request.input, period: { name: periodOfCode[action.slice(2)]! } } as ToolInput;
      if (action === 'g') request.input = { ...request.input, group_by: 'manager' };
      if (action.startsWith('l:') || action === 'x') request.input = { ...request.input, limit: 1000 };
      const r = await deps.engine.runRequest(request, callerOf(user));
      if (action === 'x') {
        const data = await envelopeToXlsx(r.envelope);
        return [
          plain('Выгрузка в Excel', {
            file: {
              name: `voronka-${r.envelope.metric}-${r.envelope.period.from}_${r.envelope.period.to}.xlsx`,
              data,
              mime: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
            },
          }),
        ];
      }
      if (action.startsWith('l:')) return [listPage(r.envelope, Number(action.slice(2)), stored.id)];
      const reply = await answerReply(state, request, r.envelope, r.text, r.html);
      await saveState(id, state);
      return [reply];
    } catch (err) {
      if (!(err instanceof AppError)) deps.logger.error({ err, data }, 'button failed');
      return [plain(userMessageOf(err))];
    }
  }

  async function startDispute(id: Identity, user: BotUserRow, callId: string): Promise<string> {
    const [call] = await deps.db.query<{ manager_id: string | null }>(
      'SELECT manager_id FROM calls WHERE id = $1',
      [callId],
    );
    if (!call || (call.manager_id !== user.manager_id && user.role !== 'admin')) {
      return 'Оспорить можно только разбор своего звонка.';
    }
    const state = await loadState(id);
    state.disputeCallId = callId;
    await saveState(id, state);
    return 'Напишите одним сообщением, с чем вы не согласны в разборе, — я передам руководителю.';
  }

  async function forwardDispute(user: BotUserRow, callId: string, comment: string): Promise<string> {
    const [row] = await deps.db.query<{
      manager_id: string | null;
      manager: string | null;
      breakdown: unknown;
    }>(
      `SELECT c.manager_id, m.name AS manager, a.breakdown FROM calls c LEFT JOIN managers m ON m.id = c.manager_id
       LEFT JOIN LATERAL (SELECT breakdown FROM call_analyses WHERE call_id = c.id ORDER BY created_at DESC LIMIT 1) a ON true
       WHERE c.id = $1`,
      [callId],
    );
    const heads = row?.manager_id ? await headRecipients(deps.db, row.manager_id) : [];
    deps.logger.info({ callId, user: user.id, heads: heads.length }, 'breakdown disputed');
    if (heads.length === 0 || !deps.sendToUser || !row?.breakdown) {
      return 'Комментарий записан, но руководитель пока не подключён к боту — передайте ему разбор лично.';
    }
    const heading = `✋ ${row.manager ?? user.name} оспаривает разбор звонка ${callId}:\n«${comment}»\n`;
    for (const head of heads) {
      await deps.sendToUser(
        head,
        breakdownReply(row.breakdown as Parameters<typeof breakdownReply>[0], {
          withDispute: false,
          heading,
        }),
      );
    }
    return `Спасибо, передал руководителю: ${heads.map((h) => h.name).join(', ')}.`;
  }

  function listPage(env: Envelope, page: number, reqId: string): Reply {
    const items = env.items ?? [];
    const pages = Math.max(1, Math.ceil(items.length / LIST_PAGE));
    const p = Math.min(Math.max(page, 0), pages - 1);
    const slice = { ...env, groups: [], items: items.slice(p * LIST_PAGE, (p + 1) * LIST_PAGE) };
    const text = `${answerText(slice, { wantsList: true, limit: LIST_PAGE })}\n\nСтраница ${p + 1} из ${pages}`;
    const html = `${answerText(slice, { wantsList: true, limit: LIST_PAGE, html: true })}\n\nСтраница ${p + 1} из ${pages}`;
    const nav: Button[] = [];
    if (p > 0) nav.push({ label: '← Назад', data: `r:${reqId}:l:${p - 1}` });
    if (p < pages - 1) nav.push({ label: 'Дальше →', data: `r:${reqId}:l:${p + 1}` });
    return { text, html, buttons: nav.length ? [nav] : undefined };
  }

  return { handleText, handleButton };
}

export type ConversationCore = ReturnType<typeof createConversationCore>;

export function inviteText(code: string, expiresAt: Date, tz: string, botUsername?: string): string {
  return [
    botUsername ? `Ссылка: https://t.me/${botUsername}?start=${code}` : null,
    `Код: ${code}`,
    `Действует до ${formatDate(expiresAt, tz)} В Telegram или WhatsApp отправьте боту код (или /start ${code}).`,
  ]
    .filter(Boolean)
    .join('\n');
}

/** Text of `/stats`: what data the assistant answers from. */
export async function statsText(db: Db, tz: string): Promise<string> {
  const s = await dataSummary(db);
  const c = s.counts;
  const span =
    s.callsFrom && s.callsTo
      ? `Звонки: с ${formatDate(s.callsFrom, tz)} по ${formatDate(s.callsTo, tz)}`
      : 'Звонков пока нет.';
  return [
    'Загруженные данные:',
    `• менеджеры: ${formatInt(c.managers)} (отделов: ${formatInt(c.departments)})`,
    `• звонки: ${formatInt(c.calls)}`,
    `• лиды: ${formatInt(c.leads)}`,
    `• сделки: ${formatInt(c.deals)}`,
    `• контакты: ${formatInt(c.contacts)}, компании: ${formatInt(c.companies)}`,
    `• дела и задачи: ${formatInt(c.activities)} / ${formatInt(c.tasks)}`,
    `• строки плана продаж: ${formatInt(c.plans)}`,
    `• разобранные звонки: ${formatInt(c.call_analyses)}`,
    span,
  ].join('\n');
}
