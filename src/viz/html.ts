/** Text made safe to place inside HTML or SVG markup (element content and quoted attributes). */
export function escapeHtml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&quot;' })[c] ?? c);
}
