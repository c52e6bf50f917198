/**
 * Splits a long message on line boundaries so every part fits a messenger's
 * limit (Telegram 4096 characters, WhatsApp text 4096); a single longer line
 * is cut into pieces.
 */
export function splitMessage(text: string, limit = 4096): string[] {
  if (text.length <= limit) return [text];
  const parts: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    const chunks = line.length > limit ? (line.match(new RegExp(`[\\s\\S]{1,${limit}}`, 'g')) ?? []) : [line];
    for (const chunk of chunks) {
      if (current && current.length + 1 + chunk.length > limit) {
        parts.push(current);
        current = chunk;
      } else current = current ? `${current}\n${chunk}` : chunk;
    }
  }
  if (current) parts.push(current);
  return parts;
}
