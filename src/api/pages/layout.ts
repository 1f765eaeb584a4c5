/**
 * The frame shared by the journal and school pages. Pages carry no roster data in their HTML:
 * a browser navigation cannot send the Authorization header, so the page's script fetches the
 * data from the JSON API with the credential kept in sessionStorage. The HTML is therefore the
 * same for everyone and safe to serve without authentication.
 */

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** JSON for an inline <script>: `<` is escaped so no value can close the script element. */
export function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

const STYLE = `
  :root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; }
  body { margin: 0; background: #f6f7f9; }
  main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; }
  h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
  section { background: #fff; border: 1px solid #d8dde3; border-radius: 8px; padding: 1rem; margin-bottom: 1rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #eef0f2; vertical-align: middle; }
  tr.selected { background: #eaf2ff; }
  button, .button { font: inherit; padding: .45rem .9rem; border-radius: 6px; border: 1px solid #0b5cd5;
    background: #0b5cd5; color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
  button.secondary { background: #fff; color: #0b5cd5; }
  button:disabled { opacity: .45; cursor: default; }
  .actions { display: flex; gap: .5rem; flex-wrap: wrap; margin: .75rem 0; }
  .notice { padding: .6rem .8rem; border-radius: 6px; margin: .5rem 0; }
  .notice.info { background: #eef5ff; }
  .notice.warn { background: #fff6e0; }
  .notice.error { background: #ffecec; }
  .muted { color: #656d76; }
  [hidden] { display: none !important; }
`;

export function page({
  title,
  nonce,
  body,
  script,
}: {
  title: string;
  nonce: string;
  body: string;
  script: string;
}): string {
  return `<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
<script nonce="${nonce}">
${script}
</script>
</body>
</html>`;
}

/**
 * Shared by both pages' scripts (the API helper, element builder and message box): take `?token=` (a teacher token) or `?key=` (an admin key, as
 * `npm start` prints the school page) once into sessionStorage and drop both from the address bar
 * and history, then send the credential only as a header.
 */
export const CREDENTIAL_SCRIPT = `
const STORAGE_KEY = 'sferum.credential';
(function takeCredentialFromUrl() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get('token') || url.searchParams.get('key');
  if (url.searchParams.has('token') || url.searchParams.has('key')) {
    if (given) sessionStorage.setItem(STORAGE_KEY, given);
    url.searchParams.delete('token');
    url.searchParams.delete('key');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
})();
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const credential = sessionStorage.getItem(STORAGE_KEY);
  if (credential) headers.Authorization = 'Bearer ' + credential;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { status: response.status, data };
}
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v; else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
function show(text, kind) {
  const box = document.getElementById('message');
  box.textContent = text;
  box.className = 'notice ' + (kind || 'info');
  box.hidden = !text;
}
`;
