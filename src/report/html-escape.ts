/**
 * Everything in the report that came from a log line (paths, identities, hosts, user agents) is
 * attacker-controlled. It goes through here before it touches HTML, in text and in attributes alike.
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' }

export function escapeHtml(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value)
  // Control characters are dropped too: they have no business in a report and can confuse printers.
  // eslint-disable-next-line no-control-regex
  return text.replace(/[&<>"'`]/g, (c) => ENTITIES[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\uFFFD')
}
