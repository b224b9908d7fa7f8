import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ACCESS, FakeGitLab } from '../fakes/gitlab.js';
import { startForgegate, type TestForgegate } from '../support/forgegate.js';

// The status page in a real browser (Debian's chromium, driven by playwright-core) against
// forgegate in front of the fake GitLab: a Reporter asks to push and reads the denial and
// its reason on the page, using the keyboard only. The run leaves a screenshot behind.

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCREENSHOT = resolve(ROOT, 'test/artifacts/status-page.png');
const PHONE_SCREENSHOT = resolve(ROOT, 'test/artifacts/status-page-phone.png');
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install the Debian package "chromium" (scripts/system-deps.sh does)`;

const gitlab = new FakeGitLab();
const rita = gitlab.addUser({ username: 'rita' });
const bot = gitlab.addUser({ username: 'forgegate-bot', bot: true, is_admin: true });
gitlab.addProject({ path_with_namespace: 'group/proj' });
gitlab.addMember('group/proj', rita.id, ACCESS.reporter);
const RITA_TOKEN = 'glpat-rita-Browser7Secret9';
gitlab.addToken({ token: RITA_TOKEN, user_id: rita.id, scopes: ['api'] });
const service = gitlab.addToken({
  token: 'glpat-bot-service-0Zq',
  user_id: bot.id,
  scopes: ['read_api'],
  kind: 'service_account',
});

let fg: TestForgegate;
let browser: Browser;
/** What the browser reported: console errors and CSP violations would show up here. */
const consoleErrors: string[] = [];

describe('status page in Chromium', { skip }, () => {
  before(async () => {
    const url = await gitlab.start();
    fg = await startForgegate({
      token: { service: 'registry.test' },
      forges: [{ type: 'gitlab', url, serviceToken: service.token }],
      ui: { registry: 'registry.example.test' },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await fg?.stop();
    await gitlab.stop();
  });

  async function open(viewport: { width: number; height: number }): Promise<Page> {
    const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    const response = await page.goto(`${fg.url}/`);
    assert.equal(response?.status(), 200, 'GET / answers 200');
    return page;
  }

  test('shows the status: version, key id, the forge, the registry settings', async () => {
    const page = await open({ width: 1100, height: 900 });
    try {
      assert.match((await page.textContent('#fact-version')) ?? '', /^\d+\.\d+\.\d+/, 'the version is shown');
      assert.equal(await page.textContent('#fact-kid'), fg.runtime.key.kid, 'the key id is the signing key id');
      assert.match((await page.textContent('tr[data-forge="gitlab"]')) ?? '', /GitLab/, 'the forge has a row');
      assert.equal(await page.textContent('#setting-realm'), `${fg.url}/token`, 'the realm is this server');
      assert.equal(await page.textContent('#setting-service'), 'registry.test', 'the service is the configured one');
    } finally {
      await page.context().close();
    }
  });

  test('a Reporter asking to push reads the denial and its reason, by keyboard alone', async () => {
    const page = await open({ width: 1100, height: 900 });
    try {
      // Tab from the top of the page until the username field has the focus.
      const focused = () => page.evaluate<string>("document.activeElement ? document.activeElement.id : ''");
      let steps = 0;
      while ((await focused()) !== 'username' && steps < 30) {
        await page.keyboard.press('Tab');
        steps++;
      }
      assert.equal(await focused(), 'username', 'Tab reaches the username field');
      await page.keyboard.type('rita');
      await page.keyboard.press('Tab');
      assert.equal(await focused(), 'password', 'the next Tab reaches the password field');
      await page.keyboard.type(RITA_TOKEN);
      await page.keyboard.press('Tab');
      assert.equal(await focused(), 'image', 'the next Tab reaches the image field');
      await page.keyboard.type('registry.example.test/group/proj:1.0');
      await page.keyboard.press('Enter');

      const push = page.locator('#verdicts li[data-action="push"]');
      await push.waitFor({ timeout: 15_000 });
      assert.equal(await push.getAttribute('class'), 'denied', 'push is shown as denied');
      assert.equal(
        await push.locator('.reason').textContent(),
        'push denied: role Reporter (20) < Developer (30) on group/proj',
        'the reason of the decision is on the page',
      );
      assert.equal(
        await page.locator('#verdicts li[data-action="pull"]').getAttribute('class'),
        'granted',
        'pull is shown as granted',
      );
      assert.equal(
        await page.locator('#verdicts li[data-action="delete"]').getAttribute('class'),
        'denied',
        'delete is shown as denied',
      );
      assert.equal(
        await page.textContent('#login-line'),
        'docker login registry.example.test --username rita --password-stdin',
        'the docker login line names the registry and the user',
      );
      assert.equal(page.url(), `${fg.url}/`, 'the form did not navigate (nothing went into a URL)');

      await mkdir(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      const lines = fg.logs().filter((line) => line.explain === true);
      assert.ok(
        lines.some(
          (line) =>
            line.subject === 'rita' &&
            Array.isArray(line.denied) &&
            line.denied.some((d) => String(d).includes('push denied')),
        ),
        'the check wrote the audit line',
      );
      assert.ok(!fg.rawLogs().includes(RITA_TOKEN), 'the token never appears in the logs');
    } finally {
      await page.context().close();
    }
  });

  test("the forge's last call shows once forgegate has asked it", async () => {
    const page = await open({ width: 1100, height: 900 });
    try {
      const cell = (await page.textContent('tr[data-forge="gitlab"] .last-call')) ?? '';
      assert.match(cell, /^ok HTTP 200 on /, `the last call is shown as healthy: ${cell}`);
    } finally {
      await page.context().close();
    }
  });

  test('readable on a phone: nothing wider than the screen', async () => {
    const page = await open({ width: 375, height: 740 });
    try {
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      assert.equal(overflow, 0, 'no horizontal scrolling at 375 px');
      await mkdir(dirname(PHONE_SCREENSHOT), { recursive: true });
      await page.screenshot({ path: PHONE_SCREENSHOT, fullPage: true });
    } finally {
      await page.context().close();
    }
  });

  test('every field has a label, and text keeps a 4.5:1 contrast', async () => {
    const page = await open({ width: 1100, height: 900 });
    try {
      const unlabelled = await page.evaluate(
        "[...document.querySelectorAll('input, button')].filter((el) => (el.labels ? el.labels.length : 0) === 0 && !el.getAttribute('aria-label') && el.textContent.trim() === '').length",
      );
      assert.equal(unlabelled, 0, 'every input and button has an accessible name');
      const worst = (await page.evaluate(LOWEST_CONTRAST)) as { ratio: number; text: string };
      assert.ok(worst.ratio >= 4.5, `lowest text contrast ${worst.ratio.toFixed(2)}:1 on "${worst.text}"`);
    } finally {
      await page.context().close();
    }
  });

  test('no console error and no CSP violation on the way', () => {
    assert.deepEqual(consoleErrors, [], 'the browser reported no error');
  });
});

// Runs in the page: the lowest contrast between any visible text and the first opaque
// background behind it (WCAG relative luminance). A string, not a function: tsx would
// decorate a function with helpers the page does not have.
const LOWEST_CONTRAST = `(() => {
  const rgb = (color) => (color.match(/[\\d.]+/g) || []).map(Number);
  const channel = (c) => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4); };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const parts = rgb(getComputedStyle(node).backgroundColor);
      if (parts.length === 3 || (parts.length === 4 && parts[3] > 0)) return parts.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let worst = { ratio: 21, text: '' };
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim() !== '');
    if (!own || el.offsetParent === null || el.closest('.visually-hidden, .skip, noscript')) continue;
    const style = getComputedStyle(el);
    const a = luminance(rgb(style.color));
    const b = luminance(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst.ratio) worst = { ratio, text: el.textContent.trim().slice(0, 40) };
  }
  return worst;
})()`;
