import { TOKEN_VALUE_SHAPE, UNSAFE_CHARACTERS } from '../core/names.js';

// Anything from storage or a server is printed through this: no raw ESC, control or bidi character ever
// reaches the terminal, even if a store was edited by hand.
export function safeText(text: string): string {
  return text.replace(UNSAFE_CHARACTERS, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

/** Last line of defence for messages that echo user input (commander's errors, ours): no value-shaped text. */
export function redactTokenLike(text: string): string {
  return text.replace(TOKEN_VALUE_SHAPE, '[redacted]');
}
