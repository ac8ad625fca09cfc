/**
 * Whether a raw header name (from `req.rawHeaders`) is the header `lower` (its name in lower case; `title`, the same
 * in Title-Case). HTTP compares names case-insensitively; the two spellings clients send are compared as they are,
 * without making a string per header per request, and any other by lowering it.
 */
export const isHeader = (name: string, lower: string, title: string): boolean =>
  name === lower || name === title || (name.length === lower.length && name.toLowerCase() === lower);
