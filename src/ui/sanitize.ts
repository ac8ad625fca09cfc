// Anything from storage or a server is printed through this: no raw ESC, control or bidi character ever
// reaches the terminal, even if a store was edited by hand.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

export function safeText(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

const TOKEN_LIKE = /tctl_[a-z0-9]+_[0-9A-Za-z]{16,}|eyJ[\w-]{8,}\.[\w-]{8,}(\.[\w-]*)?/g;

/** Last line of defence for messages that echo user input (commander's errors, ours): no value-shaped text. */
export function redactTokenLike(text: string): string {
  return text.replace(TOKEN_LIKE, '[redacted]');
}
