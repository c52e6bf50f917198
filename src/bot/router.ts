import { AppError } from '../errors.ts';
import type { Channel } from './access.ts';
import type { Recipient } from './breakdowns.ts';
import type { Reply } from './core.ts';

type ChannelSender = (chatId: string, reply: Reply) => Promise<void>;

/**
 * Routes a message for a user to their messenger. Adapters register
 * themselves when they start, so the core and the notifiers can be built first.
 */
export function createMessengerRouter() {
  const senders = new Map<Channel, ChannelSender>();
  return {
    register(channel: Channel, sender: ChannelSender): void {
      senders.set(channel, sender);
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
