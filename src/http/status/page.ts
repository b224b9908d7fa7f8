import type { LastForgeCall } from '../../forges/health.js';
import type { ForgeStatus, StatusFacts } from './facts.js';

// GET /: the status page, rendered on the server so the status reads without the script
// (which only adds copy buttons and the access check). Every value goes through `escape`.

export interface PageOptions {
  facts: StatusFacts;
  /** Whether to show the "Check my access" form (ui.explain). */
  explain: boolean;
  /** Same-origin URLs of the stylesheet and the script (content-hashed). */
  styleUrl: string;
  scriptUrl: string;
  now?: Date;
}

const EXPIRY_WARNING_DAYS = 30;

export function renderPage(options: PageOptions): string {
  const { facts } = options;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>forgegate status</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${escape(options.styleUrl)}">
<script src="${escape(options.scriptUrl)}" defer></script>
</head>
<body>
${options.explain ? '<a class="skip" href="#check">Skip to Check my access</a>' : ''}
<header class="wrap">
<h1>forgegate</h1>
<p class="muted">Token server for the container registry service <code>${escape(facts.service)}</code></p>
</header>
<main class="wrap">
${statusSection(facts, options.now ?? new Date())}
${options.explain ? checkSection() : ''}
</main>
<footer class="wrap muted">
<p>Machine-readable: <a href="readyz">readiness</a> · <a href="metrics">metrics</a> · <a href=".well-known/jwks.json">signing keys (JWKS)</a></p>
</footer>
<p id="copy-status" class="visually-hidden" role="status" aria-live="polite"></p>
</body>
</html>
`;
}

function statusSection(facts: StatusFacts, now: Date): string {
  const days = facts.certificateDaysLeft;
  const expiry =
    days < 0
      ? pill('bad', 'expired')
      : days < EXPIRY_WARNING_DAYS
        ? pill('warn', `${days} days left`)
        : pill('ok', `${days} days left`);
  const redis =
    facts.redis.status === 'disabled'
      ? 'not configured (in-process cache only)'
      : `${pill(facts.redis.status === 'ok' ? 'ok' : 'warn', facts.redis.status)} ${escape(facts.redis.state ?? '')}`;
  return `<section aria-labelledby="status-heading">
<h2 id="status-heading">Status</h2>
<dl class="facts" id="facts">
<dt>Version</dt><dd id="fact-version">${escape(facts.version)}</dd>
<dt>Issuer</dt><dd><code>${escape(facts.issuer)}</code></dd>
<dt>Service</dt><dd><code>${escape(facts.service)}</code></dd>
<dt>Signing key</dt><dd>${escape(facts.algorithm)}, key id <code id="fact-kid">${escape(facts.kid)}</code></dd>
<dt>Certificate expires</dt><dd><time datetime="${escape(facts.certificateExpires.toISOString())}">${escape(facts.certificateExpires.toISOString().slice(0, 16).replace('T', ' '))} UTC</time> ${expiry}</dd>
<dt>Redis</dt><dd id="fact-redis">${redis}</dd>
</dl>
<h3 id="forges-heading">Forges</h3>
${forgeTable(facts.forges, now)}
${forgeNotices(facts.forges)}
<h3 id="registry-heading">Registry settings</h3>
<p>The <code>auth.token</code> block of the registry's <code>config.yml</code> that matches this server${
    facts.realmGuessed
      ? " (the realm is this page's address: set <code>server.publicUrl</code> if clients reach forgegate elsewhere)"
      : ''
  }:</p>
<pre><code id="registry-yaml">${escape(registryYaml(facts))}</code></pre>
<button type="button" class="copy" data-copy="registry-yaml" aria-label="Copy the auth block">Copy</button>
<dl class="facts" id="registry-settings">
${(['issuer', 'service', 'realm', 'rootcertbundle'] as const).map((name) => setting(name, facts.registry[name])).join('\n')}
</dl>
</section>`;
}

function forgeTable(forges: readonly ForgeStatus[], now: Date): string {
  if (forges.length === 0) return '<p>No forge is configured: static accounts and the ACL decide everything.</p>';
  const rows = forges
    .map(
      (forge) =>
        `<tr data-forge="${escape(forge.name)}"><td data-label="Name">${escape(forge.name)}</td><td data-label="Type">${forge.type === 'gitlab' ? 'GitLab' : 'GitHub'}</td><td data-label="URL"><a href="${escape(forge.url)}">${escape(forge.url)}</a></td><td data-label="Images">${
          forge.prefix === '' ? (forges.length === 1 ? 'all' : 'all others') : `<code>${escape(forge.prefix)}…</code>`
        }</td><td data-label="Last call" class="last-call">${lastCall(forge.lastCall, now)}</td></tr>`,
    )
    .join('\n');
  return `<div class="table" role="region" aria-labelledby="forges-heading" tabindex="0">
<table>
<thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">URL</th><th scope="col">Images</th><th scope="col">Last call</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</div>`;
}

function forgeNotices(forges: readonly ForgeStatus[]): string {
  const item = (forge: ForgeStatus, notice: string) =>
    `<li data-forge="${escape(forge.name)}">${pill('warn', forge.name)} ${escape(notice)}</li>`;
  const items = forges.flatMap((forge) => forge.notices.map((notice) => item(forge, notice)));
  return items.length === 0 ? '' : `<ul class="notices" id="forge-notices">\n${items.join('\n')}\n</ul>`;
}

function lastCall(call: LastForgeCall | null, now: Date): string {
  if (call === null) return '<span class="muted">no call since start</span>';
  const ago = Math.max(0, Math.round((now.getTime() - call.at.getTime()) / 1000));
  const status = /^\d+$/.test(call.status) ? `HTTP ${call.status}` : call.status;
  return `${pill(call.healthy ? 'ok' : 'bad', call.healthy ? 'ok' : 'failing')} ${escape(status)} on <code>${escape(call.endpoint)}</code>, ${escape(agoText(ago))} (${Math.round(call.seconds * 1000)} ms)`;
}

function agoText(seconds: number): string {
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return `${Math.floor(seconds / 3600)} h ago`;
}

function setting(name: string, value: string): string {
  return `<dt>${name}</dt><dd class="setting"><code id="setting-${name}">${escape(value)}</code> <button type="button" class="copy" data-copy="setting-${name}" aria-label="Copy ${name}">Copy</button></dd>`;
}

export function registryYaml(facts: StatusFacts): string {
  const { realm, service, issuer, rootcertbundle } = facts.registry;
  return [
    'auth:',
    '  token:',
    `    realm: ${realm}`,
    `    service: ${service}`,
    `    issuer: ${issuer}`,
    `    rootcertbundle: ${rootcertbundle}`,
  ].join('\n');
}

// A plain form post (script missing) sends the fields as a form to POST /explain, which
// refuses it with 415: the password never lands in a URL.
function checkSection(): string {
  return `<section id="check" aria-labelledby="check-heading">
<h2 id="check-heading">Check my access</h2>
<p>What would the registry let you do with an image, and why? Your password or token goes only to this forgegate, in the body of a POST; it is neither stored nor logged.</p>
<form id="explain-form" method="post" action="explain">
<div class="field"><label for="username">Username</label>
<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" aria-describedby="username-hint">
<p class="hint" id="username-hint">Your forge or registry login. Leave both fields empty to check what anyone may do.</p></div>
<div class="field"><label for="password">Password or token</label>
<input id="password" name="password" type="password" autocomplete="off" spellcheck="false"></div>
<div class="field"><label for="image">Image</label>
<input id="image" name="image" required autocapitalize="none" spellcheck="false" placeholder="group/project" aria-describedby="image-hint">
<p class="hint" id="image-hint">For example <code>group/project</code> or <code>registry.example.com/group/project:1.0</code>.</p></div>
<div><button type="submit">Check access</button></div>
</form>
<noscript><p class="alert">The access check needs JavaScript. Without it, run <code>forgegate explain</code> on the server.</p></noscript>
<div id="result" aria-live="polite"></div>
</section>`;
}

function pill(kind: 'ok' | 'warn' | 'bad', text: string): string {
  return `<span class="pill ${kind}">${escape(text)}</span>`;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}
