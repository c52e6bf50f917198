/**
 * Russian call transcripts for the demo data, assembled from building blocks so
 * that the call analyzers meet every script step and objection type both done
 * and missed, in all four formats of TRANSCRIPTS.md.
 */

import type { Rng } from './random.ts';

/** What the call is about; decides the opening and which blocks can follow. */
export type TalkKind =
  | 'inbound_inquiry'
  | 'lead_first_contact'
  | 'measure_booking'
  | 'offer_followup'
  | 'closing'
  | 'after_sale'
  | 'cold_call'
  | 'callback'
  | 'wrong_number'
  | 'job_seeker'
  | 'spam';

/** How likely a manager is to do each script step; differs between managers. */
export interface ScriptHabits {
  greeting: number;
  discovery: number;
  price: number;
  nextStep: number;
  summary: number;
  handling: number;
}

export interface TalkInput {
  kind: TalkKind;
  managerFirstName: string;
  managerFemale: boolean;
  clientFirstName?: string | undefined;
  clientFemale: boolean;
  /** The lead's or deal's title ("Остекление балкона"), so the client asks for that. */
  topic?: string | undefined;
  /** Where the lead came from, for "вы оставляли заявку на Авито". */
  sourceName?: string | undefined;
  b2b: boolean;
  /** The client called us; deal conversations then open with the client's question. */
  inbound: boolean;
  habits: ScriptHabits;
}

export interface TranscriptSegment {
  speaker: string;
  role: 'manager' | 'client' | 'other';
  start_sec: number;
  text: string;
}

export interface Transcript {
  /** A string in formats 1, 2 or 4, or the segment array of format 3. */
  value: string | TranscriptSegment[];
  /** Talk time the dialogue takes, for `duration_sec`. */
  seconds: number;
}

interface Turn {
  manager: boolean;
  text: string;
}

interface Product {
  /** The lead/deal title this product belongs to. */
  topic: string;
  asks: readonly string[];
  price: readonly [number, number];
  unit: string;
  b2b: boolean;
}

const PRODUCTS: readonly Product[] = [
  {
    topic: 'Замена окон',
    asks: [
      'Хочу поменять окна в квартире, три окна.',
      'Нужно поставить пластиковые окна в двушке.',
      'Сколько стоит пластиковое окно на кухню?',
      'Хотим заменить старые деревянные окна на пластиковые.',
    ],
    price: [18, 45],
    unit: 'Такое окно с монтажом выйдет от {n} рублей.',
    b2b: false,
  },
  {
    topic: 'Остекление балкона',
    asks: [
      'Хочу застеклить балкон.',
      'Интересует остекление лоджии, шесть метров.',
      'Нужно тёплое остекление балкона с отделкой.',
    ],
    price: [60, 190],
    unit: 'Остекление с отделкой получится примерно {n} рублей.',
    b2b: false,
  },
  {
    topic: 'Москитные сетки',
    asks: ['Нужны москитные сетки на четыре окна.', 'Сколько у вас стоит москитная сетка?'],
    price: [2, 5],
    unit: 'Одна сетка стоит {n} рублей с установкой.',
    b2b: false,
  },
  {
    topic: 'Ремонт окон',
    asks: ['Окна продувает, нужна регулировка.', 'Сломалась ручка, и окно плохо закрывается.'],
    price: [2, 6],
    unit: 'Выезд мастера и регулировка обойдутся в {n} рублей.',
    b2b: false,
  },
  {
    topic: 'Окна в частный дом',
    asks: ['Строим дом, нужно посчитать окна на весь дом.', 'Нужны окна в загородный дом, штук двенадцать.'],
    price: [250, 600],
    unit: 'На такой дом ориентировочно {n} рублей под ключ.',
    b2b: false,
  },
  {
    topic: 'Ремонт под ключ',
    asks: [
      'Делаем ремонт в квартире, интересует отделка под ключ.',
      'Нужен ремонт квартиры вместе с заменой окон.',
    ],
    price: [700, 1900],
    unit: 'Ремонт под ключ для такой квартиры начинается от {n} рублей.',
    b2b: false,
  },
  {
    topic: 'Шумоизоляция окон',
    asks: [
      'Под окнами шумная дорога, нужны окна с шумоизоляцией.',
      'Нужны тёплые окна, зимой очень холодно.',
    ],
    price: [25, 55],
    unit: 'Окно с усиленным стеклопакетом будет стоить около {n} рублей.',
    b2b: false,
  },
  {
    topic: 'Остекление объекта',
    asks: [
      'Нам нужно остекление офиса, примерно сорок окон.',
      'Ищем подрядчика на остекление объекта.',
      'Нужно заменить окна на складе и в административном корпусе.',
    ],
    price: [900, 4800],
    unit: 'По предварительной оценке это около {n} рублей с монтажом.',
    b2b: true,
  },
];

const B2B_PRODUCTS = PRODUCTS.filter((p) => p.b2b);
const B2C_PRODUCTS = PRODUCTS.filter((p) => !p.b2b);

const DISCOVERY: readonly (readonly [string, readonly string[]])[] = [
  ['Подскажите, какой у вас дом: панельный или кирпичный?', ['Панельный, девятиэтажка.', 'Кирпичный.']],
  [
    'Сколько окон и какие примерно размеры?',
    ['Три окна, примерно метр сорок на полтора.', 'Два окна и балконный блок.'],
  ],
  ['На каком этаже квартира?', ['На седьмом.', 'Третий этаж.']],
  [
    'Когда планируете установку?',
    ['Хотелось бы до холодов.', 'В течение месяца.', 'Не горит, но летом хотим.'],
  ],
  [
    'Что для вас важнее всего: тепло, шумоизоляция или цена?',
    ['Чтобы было тепло и не дуло.', 'Цена, конечно.', 'Шум от дороги мешает.'],
  ],
  ['Старые окна деревянные?', ['Да, ещё советские.', 'Нет, пластик, но уже старый.']],
];

const DISCOVERY_B2B: readonly (readonly [string, readonly string[]])[] = [
  [
    'Какой объём и в какие сроки нужно сделать?',
    ['Около сорока окон, сдать к концу квартала.', 'Два этажа, срок два месяца.'],
  ],
  ['Вы работаете по безналу, с НДС?', ['Да, нам нужен НДС.', 'Безнал, с НДС обязательно.']],
  ['Есть проект или нужен наш замер?', ['Проект есть, пришлём.', 'Нужен ваш замер.']],
];

type ObjectionType = 'price' | 'think' | 'competitor' | 'timing' | 'need' | 'trust' | 'authority';

const OBJECTIONS: Record<
  ObjectionType,
  { says: readonly string[]; handled: readonly string[]; unhandled: readonly string[] }
> = {
  price: {
    says: ['Дороговато.', 'Ой, это дорого.', 'Что-то дорого получается.', 'За такие деньги? Дорого.'],
    handled: [
      'Понимаю. Сейчас действует скидка десять процентов, и можно оформить рассрочку без переплаты.',
      'Сумма ощутимая, согласен. Но в цену уже входят монтаж, откосы и вывоз мусора, доплат не будет.',
      'Могу предложить профиль попроще, выйдет на пятнадцать процентов дешевле.',
    ],
    unhandled: ['Ну, цены сейчас у всех такие.', 'Дешевле не получится.', 'Это уже как решите.'],
  },
  think: {
    says: ['Я подумаю.', 'Мне надо подумать.', 'Давайте я подумаю и перезвоню.', 'Подумаю ещё, спасибо.'],
    handled: [
      'Конечно. А что именно вызывает сомнения? Давайте я пришлю расчёт в мессенджер, чтобы было с чем сравнить.',
      'Хорошо. Чтобы было проще решить: замер бесплатный и ни к чему не обязывает.',
    ],
    unhandled: ['Хорошо, думайте.', 'Ладно, звоните, если что.'],
  },
  competitor: {
    says: [
      'У других дешевле.',
      'Мне в другой фирме дешевле предлагали.',
      'В соседней компании насчитали на двадцать тысяч меньше.',
    ],
    handled: [
      'Давайте сравним комплектацию: у нас профиль семьдесят миллиметров, тёплый монтаж и гарантия пять лет.',
      'Пришлите их расчёт, я посмотрю, что туда входит. Часто дешевле выходит за счёт монтажа без пароизоляции.',
    ],
    unhandled: ['Ну, можете у них заказать.', 'У нас такие цены.'],
  },
  timing: {
    says: [
      'Сейчас не актуально, может быть весной.',
      'Не сейчас, у нас ремонт только летом.',
      'Пока не время, давайте через пару месяцев.',
    ],
    handled: [
      'Понимаю. Замер можно сделать уже сейчас и зафиксировать цену, она действует три месяца.',
      'Тогда я поставлю напоминание и позвоню вам в начале сезона, хорошо?',
    ],
    unhandled: ['Хорошо, тогда звоните, когда будет актуально.'],
  },
  need: {
    says: ['Да нам, наверное, уже не нужно.', 'Мы уже поставили окна, спасибо.', 'Мы просто узнавали цены.'],
    handled: [
      'Понимаю. Может быть, нужен балкон или москитные сетки? Для наших клиентов скидка.',
      'Хорошо. Если понадобится регулировка или ремонт окон, мы тоже этим занимаемся.',
    ],
    unhandled: ['Понятно, извините за беспокойство.'],
  },
  trust: {
    says: [
      'А вы давно работаете? Отзывы у вас какие?',
      'Не доверяю я этим замерщикам, потом цену накручивают.',
      'А договор у вас официальный?',
    ],
    handled: [
      'Мы работаем с две тысячи десятого года: договор, гарантия пять лет, отзывы есть на Яндекс Картах.',
      'Цена фиксируется в договоре после замера и дальше не меняется, это прописано.',
    ],
    unhandled: ['Ну, у нас всё нормально.', 'Отзывы в интернете посмотрите.'],
  },
  authority: {
    says: [
      'Мне надо согласовать с женой.',
      'Это надо согласовать с директором.',
      'Надо с мужем посоветоваться.',
    ],
    handled: [
      'Конечно. Давайте я подготовлю коммерческое предложение, чтобы вам было удобно показать. Можно и вместе приехать к нам в офис.',
      'Хорошо, могу созвониться с вами обоими, когда будет удобно.',
    ],
    unhandled: ['Хорошо, согласовывайте.'],
  },
};

const OBJECTION_TYPES = Object.keys(OBJECTIONS) as ObjectionType[];

const AFTER_HANDLED = [
  'Ну, давайте попробуем.',
  'Хорошо, это уже интереснее.',
  'Ладно, убедили.',
  'Посмотрим.',
];
const AFTER_UNHANDLED = ['Ладно.', 'Ну хорошо.', 'Понятно.'];

const SOURCE_PHRASE: Record<string, string> = {
  Авито: 'на Авито',
  Сайт: 'на нашем сайте',
  'Яндекс.Директ': 'на сайте',
  'Лид-перехват': 'на сайте',
  Рекомендация: 'по рекомендации',
};

const DAYS = ['в понедельник', 'во вторник', 'в среду', 'в четверг', 'в пятницу', 'в субботу'];
const HOURS = ['в десять утра', 'в одиннадцать', 'в двенадцать', 'в два часа', 'в четыре', 'в шесть вечера'];

const NOISE_TAIL = 'Редактор субтитров А.Семкин Корректор А.Егорова';

/** "21 тысяча", "23 тысячи", "25 тысяч", "3,3 миллиона". */
function thousands(n: number): string {
  if (n >= 1000) return `${(n / 1000).toFixed(1).replace('.', ',')} миллиона`;
  const d = n % 10;
  const dd = n % 100;
  const word =
    d === 1 && dd !== 11 ? 'тысяча' : d >= 2 && d <= 4 && (dd < 12 || dd > 14) ? 'тысячи' : 'тысяч';
  return `${n} ${word}`;
}

function g(female: boolean, male: string, fem: string): string {
  return female ? fem : male;
}

class Dialogue {
  readonly turns: Turn[] = [];
  m(text: string): void {
    this.turns.push({ manager: true, text });
  }
  c(text: string): void {
    this.turns.push({ manager: false, text });
  }
}

const INBOUND_ABOUT: Partial<Record<TalkKind, readonly string[]>> = {
  measure_booking: [
    'Здравствуйте, я по поводу замера, хочу уточнить время.',
    'Добрый день, нам назначали замер, можно перенести?',
  ],
  offer_followup: [
    'Добрый день, я по поводу вашего коммерческого предложения.',
    'Здравствуйте, получили ваш расчёт, есть вопросы.',
  ],
  closing: [
    'Здравствуйте, мы готовы заключать договор, что для этого нужно?',
    'Добрый день, звоню по договору на окна.',
  ],
  lead_first_contact: [
    'Здравствуйте, я по заявке, мне так никто и не перезвонил.',
    'Добрый день, у меня заявка на сайте, хочу уточнить.',
  ],
};

function companyGreeting(rng: Rng, greet: boolean, name: string): string {
  return greet
    ? rng.pick([
        `Добрый день, компания Окна Плюс, меня зовут ${name}.`,
        `Здравствуйте, Окна Плюс, ${name}, слушаю вас.`,
        `Компания Окна Плюс, добрый день! Меня зовут ${name}, чем могу помочь?`,
      ])
    : rng.pick(['Алло.', 'Да, слушаю.', 'Алло, говорите.']);
}

function opening(rng: Rng, d: Dialogue, input: TalkInput, product: Product): void {
  const name = input.managerFirstName;
  const greet = rng.chance(input.habits.greeting);
  const client = input.clientFirstName;
  const cf = input.clientFemale;
  const hello = `${client ? `, ${client}` : ''}`;
  const about = INBOUND_ABOUT[input.kind];
  if (input.inbound && about) {
    d.m(companyGreeting(rng, greet, name));
    d.c(rng.pick(about));
    if (input.kind === 'lead_first_contact') d.c(rng.pick(product.asks));
    return;
  }
  switch (input.kind) {
    case 'inbound_inquiry':
    case 'wrong_number':
    case 'job_seeker':
    case 'spam':
      d.m(companyGreeting(rng, greet, name));
      break;
    case 'after_sale':
      if (input.inbound) d.m(companyGreeting(rng, greet, name));
      else {
        d.m(
          greet
            ? `Добрый день${hello}! Это ${name}, компания Окна Плюс. Вы у нас заказывали окна, хотим узнать, всё ли в порядке?`
            : 'Алло, это Окна Плюс, по вашему заказу звоним.',
        );
      }
      break;
    case 'lead_first_contact': {
      const where = SOURCE_PHRASE[input.sourceName ?? ''] ?? 'у нас';
      d.m(
        greet
          ? `Добрый день${hello}! Меня зовут ${name}, компания Окна Плюс. Вы оставляли заявку ${where}, удобно говорить?`
          : 'Алло, это по окнам. Заявку оставляли?',
      );
      d.c(
        rng.pick([
          'Да, удобно.',
          'Да, говорите, только быстро.',
          `Да, ${g(cf, 'оставлял', 'оставляла')}.`,
          'Здравствуйте, да.',
        ]),
      );
      break;
    }
    case 'measure_booking':
      d.m(
        greet
          ? `Добрый день${hello}, это ${name} из компании Окна Плюс. Звоню по поводу замера.`
          : 'Алло, по замеру звоню.',
      );
      d.c('Да, здравствуйте.');
      break;
    case 'offer_followup':
      d.m(
        greet
          ? `Здравствуйте${hello}! Это ${name}, Окна Плюс. Вы получили наше коммерческое предложение?`
          : 'Алло, предложение получили?',
      );
      d.c(
        rng.pick([`${g(cf, 'Получил', 'Получила')}, ${g(cf, 'посмотрел', 'посмотрела')}.`, 'Да, изучаем.']),
      );
      break;
    case 'closing':
      d.m(
        greet
          ? `Добрый день${hello}! ${name}, компания Окна Плюс. Звоню уточнить по договору.`
          : 'Алло, по договору звоню.',
      );
      d.c(rng.pick(['Да, мы почти готовы.', 'Да, есть пара вопросов.']));
      break;
    case 'cold_call':
      d.m(
        greet
          ? `Добрый день! Меня зовут ${name}, компания Окна Плюс. Мы занимаемся остеклением коммерческих объектов. Подскажите, кто у вас отвечает за ремонт и строительство?`
          : 'Здравствуйте, окна нужны? Остекление объектов делаем.',
      );
      break;
    case 'callback':
      d.m(
        greet
          ? `Добрый день! Это ${name}, компания Окна Плюс. Вы нам звонили, мы не успели ответить.`
          : 'Алло, вы звонили?',
      );
      d.c(
        rng.pick([
          `Да, ${g(cf, 'звонил', 'звонила')} по поводу окон.`,
          `Да, ${g(cf, 'хотел', 'хотела')} узнать про окна.`,
          'Да, было дело.',
        ]),
      );
      break;
  }
  if (input.kind === 'inbound_inquiry' || input.kind === 'lead_first_contact' || input.kind === 'callback') {
    d.c(rng.pick(product.asks));
  }
}

function discovery(rng: Rng, d: Dialogue, input: TalkInput): void {
  if (!rng.chance(input.habits.discovery)) return;
  const pool = input.b2b ? DISCOVERY_B2B : DISCOVERY;
  const n = rng.int(1, 2);
  const start = rng.int(0, pool.length - 1);
  for (let i = 0; i < n; i++) {
    const [q, answers] = pool[(start + i) % pool.length] as readonly [string, readonly string[]];
    d.m(q);
    d.c(rng.pick(answers));
  }
}

function priceBlock(rng: Rng, d: Dialogue, input: TalkInput, product: Product): void {
  if (rng.chance(0.6))
    d.c(rng.pick(['А по цене сколько примерно?', 'Сколько это будет стоить?', 'А цена какая?']));
  if (rng.chance(input.habits.price)) {
    const n = rng.int(product.price[0], product.price[1]);
    d.m(product.unit.replace('{n}', thousands(n)));
  } else {
    d.m(
      rng.pick([
        'Точную стоимость скажет замерщик, по телефону не назову.',
        'По цене сложно сказать, всё зависит от комплектации.',
        'Это надо считать, по телефону не скажу.',
      ]),
    );
  }
}

/** Voices objections; returns false when the client walked away ("не нужно" left unanswered). */
function objections(rng: Rng, d: Dialogue, input: TalkInput, count: number): boolean {
  const used = new Set<ObjectionType>();
  for (let i = 0; i < count; i++) {
    const type = rng.pick(OBJECTION_TYPES);
    if (used.has(type)) continue;
    used.add(type);
    const o = OBJECTIONS[type];
    d.c(rng.pick(o.says));
    if (rng.chance(input.habits.handling)) {
      d.m(rng.pick(o.handled));
      d.c(rng.pick(AFTER_HANDLED));
    } else {
      d.m(rng.pick(o.unhandled));
      if (type === 'need') return false;
      if (rng.chance(0.5)) d.c(rng.pick(AFTER_UNHANDLED));
    }
  }
  return true;
}

/** Offers a next step (замер / встреча / КП); returns the agreed one for the summary. */
function nextStep(rng: Rng, d: Dialogue, input: TalkInput): string | null {
  if (!rng.chance(input.habits.nextStep)) {
    d.m(
      rng.pick([
        'Хорошо, если что, звоните.',
        'Ладно, будем на связи.',
        `${g(input.managerFemale, 'Понял', 'Поняла')} вас.`,
      ]),
    );
    return null;
  }
  const day = rng.pick(DAYS);
  const hour = rng.pick(HOURS);
  const kind = input.b2b
    ? rng.pick(['meeting', 'kp'] as const)
    : rng.pick(['measure', 'measure', 'meeting', 'kp'] as const);
  const agreed = rng.chance(0.75);
  if (kind === 'measure') {
    d.m(`Давайте я запишу вас на бесплатный замер. ${cap(day)} ${hour} удобно?`);
    if (!agreed) {
      d.c(`Нет, пока не надо, я ${g(input.clientFemale, 'сам', 'сама')} наберу.`);
      return null;
    }
    d.c(rng.pick(['Да, удобно.', 'Давайте, только лучше после обеда.', 'Хорошо, записывайте.']));
    return `замер ${day} ${hour}, замерщик позвонит за час до приезда`;
  }
  if (kind === 'meeting') {
    d.m(`Предлагаю встретиться у нас в офисе, покажу образцы профиля. ${cap(day)} ${hour} сможете?`);
    if (!agreed) {
      d.c(`Не знаю, пока не ${g(input.clientFemale, 'готов', 'готова')} встречаться.`);
      return null;
    }
    d.c(rng.pick(['Смогу.', 'Да, подъеду.', 'Давайте.']));
    return `встреча в офисе ${day} ${hour}`;
  }
  d.m('Я подготовлю коммерческое предложение и отправлю вам на почту сегодня до вечера.');
  if (!agreed) {
    d.c('Не нужно пока ничего присылать.');
    return null;
  }
  d.c(rng.pick(['Хорошо, жду.', 'Да, присылайте.']));
  return 'коммерческое предложение на почту сегодня';
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function closingWords(rng: Rng, d: Dialogue, input: TalkInput, agreed: string | null): void {
  if (agreed && rng.chance(input.habits.summary)) {
    d.m(`Итак, договорились: ${agreed}. Всё верно?`);
    d.c(rng.pick(['Да, всё верно.', 'Да, всё так.']));
  }
  d.m(rng.pick(['Спасибо за звонок, всего доброго!', 'Хорошего дня, до свидания!', 'Всего доброго!']));
  if (rng.chance(0.7)) d.c(rng.pick(['До свидания.', 'Спасибо, до свидания.', 'Всего доброго.']));
}

function buildDialogue(rng: Rng, input: TalkInput): Dialogue {
  const d = new Dialogue();
  const product =
    PRODUCTS.find((p) => p.topic === input.topic) ?? rng.pick(input.b2b ? B2B_PRODUCTS : B2C_PRODUCTS);
  if (rng.chance(0.08)) {
    d.c('Алло? Алло, вы меня слышите?');
    d.m('Да, слышу вас, говорите.');
  }
  opening(rng, d, input, product);
  const female = input.managerFemale;
  switch (input.kind) {
    case 'wrong_number':
      d.c(rng.pick(['Алло, это стоматология?', 'Это служба доставки?', 'Извините, это автосервис?']));
      d.m('Нет, это компания Окна Плюс.');
      d.c(`Ой, извините, ${g(input.clientFemale, 'ошибся', 'ошиблась')} номером.`);
      return d;
    case 'job_seeker':
      d.c(
        rng.pick([
          'Здравствуйте, я по объявлению о вакансии монтажника.',
          'Добрый день, я насчёт работы, вы замерщиков ищете?',
        ]),
      );
      d.m('Резюме можно прислать на почту отдела кадров, она есть на сайте в разделе вакансии.');
      d.c(`${g(input.clientFemale, 'Понял', 'Поняла')}, спасибо.`);
      return d;
    case 'spam':
      d.c(
        'Здравствуйте, вас беспокоит служба финансовой безопасности, по вашей карте зафиксирована подозрительная операция.',
      );
      d.m('Нам это неинтересно, до свидания.');
      return d;
    case 'after_sale':
      if (!input.inbound && rng.chance(0.6)) {
        d.c(rng.pick(['Да, всё хорошо, спасибо.', 'Всё отлично, тепло стало.']));
        d.m('Рады слышать! Если понадобятся москитные сетки или остекление балкона, для вас скидка.');
        if (rng.chance(0.4)) {
          d.c('А сколько стоит остекление балкона?');
          const engaged = objections(rng, d, input, rng.int(0, 1));
          closingWords(rng, d, input, engaged ? nextStep(rng, d, input) : null);
          return d;
        }
        closingWords(rng, d, input, null);
        return d;
      }
      d.c(
        input.inbound
          ? rng.pick([
              'Здравствуйте, вы нам ставили окна в прошлом месяце, одна створка плохо закрывается.',
              'Добрый день, у нас после монтажа откос треснул, что делать?',
            ])
          : rng.pick(['Не совсем, одна створка плохо закрывается.', 'Откос после монтажа треснул.']),
      );
      d.m(
        `Извините за неудобство. Это гарантийный случай, я ${g(female, 'записал', 'записала')} выезд мастера ${rng.pick(DAYS)}.`,
      );
      if (rng.chance(0.5)) {
        d.c('А заодно москитные сетки можно заказать?');
        d.m('Конечно, мастер привезёт образцы и сразу посчитает.');
      }
      closingWords(rng, d, input, null);
      return d;
    case 'cold_call': {
      const r = rng.next();
      if (r < 0.35) {
        d.c(rng.pick(['Нам не нужно, спасибо.', 'Нам ничего не надо.']));
        d.m(
          rng.chance(input.habits.handling)
            ? (OBJECTIONS.need.handled[1] as string)
            : 'Понятно, извините за беспокойство.',
        );
        return d;
      }
      if (r < 0.6) {
        d.c('Это к директору, его сейчас нет.');
        d.m('Подскажите, когда ему можно перезвонить?');
        d.c('Завтра после обеда.');
        closingWords(rng, d, input, null);
        return d;
      }
      d.c('Да, это я. Слушаю.');
      discovery(rng, d, input);
      priceBlock(rng, d, input, product);
      const engaged = objections(rng, d, input, rng.int(0, 2));
      closingWords(rng, d, input, engaged ? nextStep(rng, d, input) : null);
      return d;
    }
    case 'measure_booking': {
      d.m(`Замерщик может приехать ${rng.pick(DAYS)} ${rng.pick(HOURS)}. Вам удобно?`);
      if (rng.chance(0.3)) objections(rng, d, input, 1);
      d.c(rng.pick(['Да, удобно.', 'Лучше на день позже.', 'Давайте так.']));
      const agreed = `замер ${rng.pick(DAYS)} ${rng.pick(HOURS)}`;
      if (rng.chance(input.habits.price))
        d.m('Напомню: замер бесплатный, а окончательную цену замерщик назовёт на месте.');
      closingWords(rng, d, input, agreed);
      return d;
    }
    case 'offer_followup':
    case 'closing': {
      if (input.kind === 'offer_followup') {
        if (rng.chance(input.habits.discovery)) {
          d.m('Что скажете по комплектации, всё устраивает?');
          d.c(rng.pick(['В целом да.', 'Подоконники хотим другие.', 'Нужно ещё сетки добавить.']));
        }
        if (rng.chance(input.habits.price)) {
          d.m(
            `По предложению итоговая сумма ${thousands(rng.int(60, 900))}, с монтажом и вывозом старых окон.`,
          );
          d.c(rng.pick(['Понятно.', 'Так, ясно.', 'Угу.']));
        }
      }
      const engaged = objections(
        rng,
        d,
        input,
        rng.weighted([
          [0, 0.25],
          [1, 0.5],
          [2, 0.25],
        ] as const),
      );
      let agreed: string | null = null;
      if (engaged && input.kind === 'closing') {
        d.m(
          `Тогда жду вас в офисе для подписания договора ${rng.pick(DAYS)} ${rng.pick(HOURS)}, предоплата тридцать процентов.`,
        );
        d.c(rng.pick(['Хорошо, договорились.', 'Да, приедем.']));
        agreed = 'подписание договора в офисе';
      } else if (engaged) {
        agreed = nextStep(rng, d, input);
      }
      closingWords(rng, d, input, agreed);
      return d;
    }
    default: {
      discovery(rng, d, input);
      if (rng.chance(0.85)) priceBlock(rng, d, input, product);
      const engaged = objections(
        rng,
        d,
        input,
        rng.weighted([
          [0, 0.3],
          [1, 0.45],
          [2, 0.25],
        ] as const),
      );
      closingWords(rng, d, input, engaged ? nextStep(rng, d, input) : null);
      return d;
    }
  }
}

function wordCount(text: string): number {
  let n = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 32) n++;
  return n;
}

/** Splits an utterance into the short lines a diarizer emits (3-8 words each). */
function splitWords(rng: Rng, text: string): string[] {
  const words = text.split(' ');
  const out: string[] = [];
  let i = 0;
  while (i < words.length) {
    const n = rng.int(3, 8);
    out.push(words.slice(i, i + n).join(' '));
    i += n;
  }
  return out;
}

function plain(text: string): string {
  return text
    .toLowerCase()
    .replace(/[.,!?:;«»]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Builds one transcript; the format is chosen per call, as real exports mix them. */
export function makeTranscript(rng: Rng, input: TalkInput): Transcript {
  const d = buildDialogue(rng, input);
  const swapIds = rng.chance(0.2);
  const companyId = swapIds ? 'SPK01' : 'SPK00';
  const clientId = swapIds ? 'SPK00' : 'SPK01';
  const noisyTail = rng.chance(0.03);

  let seconds = 0;
  const starts: number[] = [];
  for (const t of d.turns) {
    starts.push(seconds);
    seconds += Math.round(wordCount(t.text) * rng.range(0.35, 0.55) + rng.range(0.5, 2.5));
  }
  seconds = Math.max(seconds, 8);

  const format = rng.weighted([
    ['roles', 35],
    ['ids', 30],
    ['json', 20],
    ['plain', 15],
  ] as const);

  if (format === 'json') {
    const value: TranscriptSegment[] = d.turns.map((t, i) => ({
      speaker: t.manager ? companyId : clientId,
      role: t.manager ? 'manager' : 'client',
      start_sec: starts[i] as number,
      text: t.text,
    }));
    return { value, seconds };
  }

  const lines: string[] = [];
  if (format === 'roles') {
    const managerWord = rng.weighted([
      ['Менеджер', 6],
      ['Оператор', 2],
      ['Сотрудник', 1],
    ] as const);
    const clientWord = rng.weighted([
      ['Клиент', 6],
      ['Абонент', 2],
      ['Покупатель', 1],
    ] as const);
    // The diarizer's role word is a hint and sometimes wrong; the speaker id stays right.
    const mislabel = rng.chance(0.05);
    for (const t of d.turns) {
      const word = t.manager !== mislabel ? managerWord : clientWord;
      const id = t.manager ? companyId : clientId;
      const sentences = t.text.length > 90 ? t.text.split(/(?<=[.?!]) /) : [t.text];
      for (const s of sentences) lines.push(`${word} (${id}): ${s}`);
    }
  } else if (format === 'ids') {
    const sep = rng.chance(0.5) ? ':  ' : ': ';
    for (const t of d.turns) {
      const id = t.manager ? companyId : clientId;
      for (const piece of splitWords(rng, t.text)) {
        const line = `${id}${sep}${piece}`;
        const repeats = rng.chance(0.06) ? rng.int(2, 6) : 1;
        for (let r = 0; r < repeats; r++) lines.push(line);
      }
    }
  } else {
    const text = d.turns.map((t) => t.text).join(' ');
    lines.push(rng.chance(0.5) ? plain(text) : text);
  }
  // Speech-to-text invents subtitle credits on trailing silence; parsers must treat them as noise.
  if (noisyTail) {
    if (format === 'roles') lines.push(`Клиент (${clientId}): ${NOISE_TAIL}`);
    else if (format === 'ids') lines.push(`${clientId}: ${NOISE_TAIL}`);
    else lines.push(NOISE_TAIL);
  }
  return { value: lines.join(format === 'plain' ? ' ' : '\n'), seconds };
}
