import type { CallBreakdown } from '../analysis/schema.ts';
import { AppError } from '../errors.ts';
import type { Channel } from './access.ts';
import type { Recipient } from './breakdowns.ts';
import type { Reply } from './core.ts';

type ChannelSender = (chatId: string, reply: Reply) => Promise<void>;

/**
 * A channel that delivers breakdowns its own way (WhatsApp: a template outside
 * the 24-hour window, its own outbox row and delivery statuses).
 */
export type BreakdownSender = (req: {
  userId: number;
  breakdown: CallBreakdown;
  reply: Reply;
  key: string;
}) => Promise<void>;

/**
 * Routes a message for a user to their messenger. Adapters register
 * themselves when they start, so the core and the notifiers can be built first.
 */
export function createMessengerRouter() {
  const senders = new Map<Channel, ChannelSender>();
  const breakdownSenders = new Map<Channel, BreakdownSender>();
  return {
    register(channel: Channel, sender: ChannelSender, breakdownSender?: BreakdownSender): void {
      senders.set(channel, sender);
      if (breakdownSender) breakdownSenders.set(channel, breakdownSender);
    },
    breakdownSender(channel: Channel): BreakdownSender | undefined {
      return breakdownSenders.get(channel);
    },
    has(channel: Channel): boolean {
      return senders.has(channel);
    },
    async send(to: Recipient, reply: Reply): Promise<void> {
      const sender = senders.get(to.channel);
      if (!sender) {
        throw new AppError(
          'channel_off',
          `No ${to.channel} adapter running to reach user ${to.userId}`,
          `Канал ${to.channel} не подключён.`,
        );
      }
      await sender(to.chatId, reply);
    },
  };
}

export type MessengerRouter = ReturnType<typeof createMessengerRouter>;
