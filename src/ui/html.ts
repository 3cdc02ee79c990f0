/** Server-rendered pages share this frame. Every interpolated value goes through `escapeHtml`. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(title: string, body: string, options: { scripts?: string[] } = {}): string {
  const scripts = (options.scripts ?? []).map((src) => `<script src="${escapeHtml(src)}" defer></script>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Portcullis</title>
<link rel="stylesheet" href="/.auth/assets/style.css">${scripts}</head>
<body><main class="card">${body}</main></body></html>`;
}

export const STYLE_CSS = `
:root{color-scheme:light dark;--accent:#2d5fa8;--err:#b3261e}
*{box-sizing:border-box}body{font:15px/1.5 system-ui,sans-serif;margin:0;padding:2rem;background:#f4f5f7;color:#1b1c1e}
@media (prefers-color-scheme:dark){body{background:#16181b;color:#e6e6e6}.card{background:#202327!important}input,select,textarea{background:#2a2e33;color:inherit}}
.card{max-width:28rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:10px;box-shadow:0 1px 4px rgba(0,0,0,.15)}
.card.wide{max-width:72rem}
h1{font-size:1.4rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input,select,textarea{width:100%;padding:.5rem;border:1px solid #999;border-radius:6px;font:inherit}
button{margin-top:1.2rem;padding:.55rem 1.2rem;border:0;border-radius:6px;background:var(--accent);color:#fff;font:inherit;cursor:pointer}
button.secondary{background:#666}button.danger{background:var(--err)}
.error{color:var(--err);font-weight:600}.ok{color:#1e7b34;font-weight:600}.muted{color:#777;font-size:.9em}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ccc;vertical-align:top}
nav a{margin-right:1rem}
`;
