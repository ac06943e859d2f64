/**
 * The playground page in a real browser (Debian's chromium driven by playwright-core) against
 * the real service: pick a fixture, run, watch it finish, compare, zoom, download, copy the
 * API calls and run them, re-run from the recent list, cancel, errors, phone width.
 * Screenshots go to test-artifacts/playground/ (gitignored) for a person to look at.
 *
 * Without chromium the browser tests skip with the reason, except in CI (CI=true), where
 * .ci/run installs it and a missing browser is a failure.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { tempDir } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';
import { startTestService, type TestService, testPng } from '../helpers/service.js';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const KEY = 'pg-test-key-7f3a';
const ARTIFACTS = repoPath('test-artifacts', 'playground');

const inCi = process.env.CI === 'true';
const haveChromium = fs.existsSync(CHROMIUM);
const skipBrowser =
  !haveChromium && !inCi
    ? `no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium); CI installs it and runs these`
    : false;

let svc: TestService;
let browser: Browser | undefined;
let fixtures: string;

before(async () => {
  svc = await startTestService({ PIXELIFT_API_KEYS: KEY });
  fixtures = tempDir('pixelift-pg-');
  fs.writeFileSync(path.join(fixtures, 'photo.png'), await testPng(48, 32));
  fs.writeFileSync(path.join(fixtures, 'big.png'), await testPng(256, 256));
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  if (skipBrowser) return;
  assert.ok(haveChromium, `CI=true and no Chromium at ${CHROMIUM}: .ci/run should have installed it`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox'] });
});
after(async () => {
  await browser?.close();
  await svc.close(1000);
});

/** A page in a fresh context; `done()` checks the page logged no error, then closes it. */
async function newPage(
  viewport = { width: 1280, height: 900 },
): Promise<{ page: Page; done(): Promise<void> }> {
  const context: BrowserContext = await browser!.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (m) => {
    // The browser logs every 4xx; those of a missing key (401) and a refused URL (400) are
    // the point of the tests that cause them. Anything else logged as an error is a bug.
    if (m.type() === 'error' && !/status of 40[01]/.test(m.text())) problems.push(m.text());
  });
  return {
    page,
    async done() {
      await context.close();
      assert.deepEqual(problems, [], 'the page logged errors');
    },
  };
}

/** A value computed in the page (a string expression: this project compiles without DOM types). */
const inPage = <T>(page: Page, expression: string) => page.evaluate<T>(expression);

/**
 * Wait until `expression` is truthy in the page. Not page.waitForFunction: when its first check is
 * false it polls with eval inside the page, which the playground's CSP (script-src 'self') refuses.
 */
async function until(page: Page, expression: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await inPage<boolean>(page, `Boolean(${expression})`))) {
    if (Date.now() > end) throw new Error(`not true within ${timeoutMs} ms: ${expression}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

async function dims(file: string | Buffer): Promise<[number | undefined, number | undefined]> {
  const meta = await sharp(file).metadata();
  return [meta.width, meta.height];
}

test('the page and its assets are public, small, cached by ETag; the API behind it still needs the key', async () => {
  const page = await fetch(`${svc.url}/`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const html = await page.text();
  assert.match(html, /<title>Pixelift playground<\/title>/);
  assert.ok(!/(?:src|href)="(?:https?:)?\/\//.test(html), 'the page loads nothing from another origin');

  // Every asset the page names, and every module main.js imports, is served.
  const assets = new Set([...html.matchAll(/\/playground\/([\w.-]+)/g)].map((m) => m[1]!));
  const js = fs.readdirSync(repoPath('dist', 'web')).filter((f) => f.endsWith('.js'));
  for (const f of js) assets.add(f);
  let gzipTotal = 0;
  let rawTotal = 0;
  for (const name of assets) {
    const res = await fetch(`${svc.url}/playground/${name}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.status, 200, name);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const raw = await fetch(`${svc.url}/playground/${name}`, { headers: { 'accept-encoding': 'identity' } });
    rawTotal += (await raw.arrayBuffer()).byteLength;
    gzipTotal += Number(res.headers.get('content-length') ?? (await res.arrayBuffer()).byteLength);
    const etag = res.headers.get('etag');
    assert.ok(etag);
    const again = await fetch(`${svc.url}/playground/${name}`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304, `${name} revalidates`);
  }
  assert.ok(assets.has('main.js') && assets.has('styles.css') && assets.has('compare.js'));
  const css = fs.readFileSync(repoPath('dist', 'web', 'styles.css'), 'utf8');
  assert.ok(!/@import|url\(/.test(css), 'the styles load no fonts or files');
  assert.ok(rawTotal < 120_000, `the page's files total ${rawTotal} bytes; keep it small`);
  assert.ok(gzipTotal < 40_000, `the page's files total ${gzipTotal} bytes gzipped; keep it small`);

  const missing = await fetch(`${svc.url}/playground/nope.js`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'route_not_found');
  const api = await fetch(`${svc.url}/v1/models`);
  assert.equal(api.status, 401);
});

test(
  'upload a fixture, run, follow to completion, compare, zoom, download; the shown API calls work as printed',
  { skip: skipBrowser, timeout: 180_000 },
  async () => {
    const { page, done } = await newPage();
    await page.goto(`${svc.url}/`);

    // Keys mode: the page asks for a key; a wrong one is an error with its code.
    await page.locator('#error:not([hidden])').waitFor();
    assert.equal(await page.locator('#error-code').textContent(), 'unauthorized');
    await page.getByLabel('API key').fill('not-a-key');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#error:not([hidden]) #error-code').waitFor();
    assert.equal(await page.locator('#error-code').textContent(), 'unauthorized');
    await page.getByLabel('API key').fill(KEY);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('input[name="model"][value="lanczos3"]').waitFor({ state: 'attached' });
    assert.equal(await inPage(page, 'localStorage.getItem("pixelift.apiKey")'), KEY);
    assert.equal(await page.locator('#error').isHidden(), true);

    // The model list is a radio group: arrow keys move the choice.
    const checked = () => inPage<string>(page, 'document.querySelector("input[name=model]:checked").value');
    const first = await checked();
    await page.locator('input[name="model"]:checked').focus();
    await page.keyboard.press('ArrowDown');
    assert.notEqual(await checked(), first);

    await page.locator('#file').setInputFiles(path.join(fixtures, 'photo.png'));
    await page.locator('#source-info', { hasText: '48 × 32' }).waitFor();
    await page.locator('label.model', { has: page.locator('input[value="lanczos3"]') }).click();
    await page.locator('#estimate', { hasText: '192 × 128 px' }).waitFor();
    await shot(page, 'desktop-ready');

    await page.getByRole('button', { name: 'Upscale' }).click();
    await page.locator('#download:not([hidden])').waitFor({ timeout: 60_000 });
    assert.match((await page.locator('#status').textContent()) ?? '', /^Succeeded · 100%/);
    assert.equal(await page.locator('#progress').getAttribute('value'), '1');

    // Both images are in the viewer, the slider between them; Home/End move it to each edge.
    assert.equal(await inPage(page, 'document.getElementById("viewer").dataset.mode'), 'compare');
    await until(
      page,
      'document.getElementById("after").complete && document.getElementById("before").complete',
    );
    assert.equal(await inPage(page, 'document.getElementById("before").naturalWidth'), 48);
    assert.equal(await inPage(page, 'document.getElementById("after").naturalWidth'), 192);
    assert.equal(await inPage(page, 'document.getElementById("after").naturalHeight'), 128);
    await page.getByLabel(/Comparison slider/).focus();
    await page.keyboard.press('End');
    assert.equal(
      await inPage(page, 'document.getElementById("after-layer").style.clipPath'),
      'inset(0px 0px 0px 100%)',
    );
    await page.keyboard.press('Home');
    assert.equal(
      await inPage(page, 'document.getElementById("after-layer").style.clipPath'),
      'inset(0px 0px 0px 0%)',
    );
    for (let i = 0; i < 50; i++) await page.keyboard.press('ArrowRight');
    assert.match(await page.locator('#stat-before').innerText(), /^48 × 32 · \d+(\.\d)? KB · PNG$/);
    assert.match(await page.locator('#stat-after').innerText(), /^192 × 128 · \d+(\.\d)? KB · PNG$/);
    await shot(page, 'desktop-compare-fit');

    // 1:1 is one image pixel per device pixel; the image's on-screen width then equals its own.
    await page.getByRole('button', { name: '1:1' }).click();
    assert.equal(await page.locator('#zoom-level').textContent(), '100%');
    assert.equal(
      await inPage(page, 'Math.round(document.getElementById("after").getBoundingClientRect().width)'),
      192,
    );
    await page.getByRole('button', { name: 'Zoom in' }).click();
    assert.equal(await page.locator('#zoom-level').textContent(), '125%');
    await page.getByRole('button', { name: 'Fit' }).click();

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
    assert.equal(download.suggestedFilename(), 'photo-192x128.png');
    const saved = path.join(fixtures, 'downloaded.png');
    await download.saveAs(saved);
    assert.deepEqual(await dims(saved), [192, 128]);

    // The recent list shows the job with its thumbnail.
    const item = page.locator('#recent li[data-status="succeeded"]').first();
    await item.waitFor();
    const jobId = await item.getAttribute('data-job');
    assert.match(jobId ?? '', /^job_/);
    assert.equal(await item.locator('img').count(), 1);

    // The API panel's calls, run as printed, give the same result.
    const env = { ...process.env, PIXELIFT_API_KEY: KEY };
    const curl = await page.locator('#code-text').textContent();
    assert.match(curl ?? '', /^curl -s http:\/\/127\.0\.0\.1:\d+\/v1\/upscale/);
    assert.match(curl ?? '', /-F 'model=lanczos3'/);
    assert.doesNotMatch(curl ?? '', new RegExp(KEY), 'the key itself is never printed');
    const viaCurl = JSON.parse((await run('bash', ['-c', curl!], { cwd: fixtures, env })).stdout);
    assert.equal(viaCurl.status, 'succeeded');
    assert.deepEqual([viaCurl.output.width, viaCurl.output.height], [192, 128]);

    await page.getByRole('tab', { name: 'JavaScript' }).click();
    const jsCode = (await page.locator('#code-text').textContent()) ?? '';
    fs.writeFileSync(path.join(fixtures, 'call.mjs'), jsCode);
    const jsOut = (await run(process.execPath, ['call.mjs'], { cwd: fixtures, env })).stdout
      .trim()
      .split(' ');
    assert.equal(jsOut[0], 'succeeded');
    assert.deepEqual(await dims(Buffer.from(await (await fetch(jsOut[1]!)).arrayBuffer())), [192, 128]);

    await page.getByRole('tab', { name: 'JavaScript' }).press('ArrowRight');
    assert.equal(await page.getByRole('tab', { name: 'Python' }).getAttribute('aria-selected'), 'true');
    const pyCode = (await page.locator('#code-text').textContent()) ?? '';
    assert.match(pyCode, /^import os\n\nimport requests\n/);
    const hasRequests = await run('python3', ['-c', 'import requests']).then(
      () => true,
      () => false,
    );
    if (hasRequests) {
      fs.writeFileSync(path.join(fixtures, 'call.py'), pyCode);
      const pyOut = (await run('python3', ['call.py'], { cwd: fixtures, env })).stdout.trim().split(' ');
      assert.equal(pyOut[0], 'succeeded');
      assert.deepEqual(await dims(Buffer.from(await (await fetch(pyOut[1]!)).arrayBuffer())), [192, 128]);
    }

    // Re-run the job with other settings: its image and settings come back into the form.
    await page
      .locator(`#recent li[data-job="${jobId}"]`)
      .getByRole('button', { name: /^Re-run/ })
      .click();
    assert.equal(await checked(), 'lanczos3');
    // Changing the scale at once must stick: the page restores settings in the click, before
    // looking the original up. Then wait on the page's state, not on time.
    await page.locator('#scale').fill('2');
    await page.locator('form[data-rerun="loaded"]').waitFor();
    assert.equal(
      await page.locator('#scale').inputValue(),
      '2',
      'the restored settings did not overwrite the change',
    );
    await page.locator('#estimate', { hasText: '96 × 64 px' }).waitFor();
    await page.getByRole('button', { name: 'Upscale' }).click();
    await page.locator('#stat-after', { hasText: '96 × 64' }).waitFor({ timeout: 60_000 });
    await until(page, 'document.getElementById("after").complete');
    assert.equal(await inPage(page, 'document.getElementById("after").naturalWidth'), 96);

    // After a reload the key is remembered, and re-opening a job brings back its original.
    await page.reload();
    const reopened = page.locator(`#recent li[data-job="${jobId}"]`);
    await reopened.getByRole('button', { name: /^Open/ }).click();
    await page.locator('#stat-after', { hasText: '192 × 128' }).waitFor();
    await until(
      page,
      'document.getElementById("before").complete && document.getElementById("before").naturalWidth > 0',
    );
    assert.equal(await inPage(page, 'document.getElementById("before").naturalWidth'), 48);
    await shot(page, 'desktop-reopened');
    await done();
  },
);

test(
  'cancel stops a running job; API errors are shown with their code',
  { skip: skipBrowser, timeout: 180_000 },
  async () => {
    const { page, done } = await newPage();
    await page.goto(`${svc.url}/`);
    await inPage(page, `localStorage.setItem("pixelift.apiKey", ${JSON.stringify(KEY)})`);
    await page.reload();
    await page.locator('input[name="model"][value="realesrgan-x4plus"]').waitFor({ state: 'attached' });

    // A loopback URL is refused by the server (SSRF rules): the estimate and the run say why, with the code.
    await page.getByLabel('Image URL').fill('http://127.0.0.1:9/photo.png');
    await page.getByRole('button', { name: 'Use URL' }).click();
    await page.locator('#estimate code', { hasText: 'url_forbidden' }).waitFor();
    await page.getByRole('button', { name: 'Upscale' }).click();
    await page.locator('#error:not([hidden])').waitFor();
    assert.equal(await page.locator('#error-code').textContent(), 'url_forbidden');
    assert.match((await page.locator('#error-message').textContent()) ?? '', /loopback|127\.0\.0\.1/);
    await shot(page, 'desktop-error');
    await page.getByRole('button', { name: 'Dismiss the error' }).click();

    // The slowest model on a 256×256 input runs for seconds: long enough to cancel it mid-run.
    await page.locator('#file').setInputFiles(path.join(fixtures, 'big.png'));
    await page.locator('#source-info', { hasText: '256 × 256' }).waitFor();
    await page.locator('label.model', { has: page.locator('input[value="realesrgan-x4plus"]') }).click();
    await page.getByRole('button', { name: 'Upscale' }).click();
    await page.locator('#status', { hasText: /^Running/ }).waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('#status', { hasText: /^Canceled/ }).waitFor({ timeout: 30_000 });
    const canceled = page.locator('#recent li[data-status="canceled"]').first();
    await canceled.waitFor();
    const id = await canceled.getAttribute('data-job');
    const res = await svc.call(`/v1/jobs/${id}`, { headers: { authorization: `Bearer ${KEY}` } });
    const job = (await res.json()) as { status: string; progress: number };
    assert.equal(job.status, 'canceled');
    assert.ok(job.progress < 1, 'canceled before it finished');
    await done();
  },
);

test(
  'at phone width (375 px) everything fits without sideways scrolling, and every control has a name',
  { skip: skipBrowser, timeout: 60_000 },
  async () => {
    const { page, done } = await newPage({ width: 375, height: 812 });
    await page.goto(`${svc.url}/`);
    await inPage(page, `localStorage.setItem("pixelift.apiKey", ${JSON.stringify(KEY)})`);
    await page.reload();
    await page.locator('input[name="model"]').first().waitFor({ state: 'attached' });
    await page.locator('#file').setInputFiles(path.join(fixtures, 'photo.png'));
    await page.locator('label.model', { has: page.locator('input[value="lanczos3"]') }).click();
    await page.getByRole('button', { name: 'Upscale' }).click();
    await page.locator('#download:not([hidden])').waitFor({ timeout: 60_000 });
    await shot(page, 'phone');
    assert.ok((await inPage<number>(page, 'document.documentElement.scrollWidth')) <= 375);
    for (const sel of ['#run', '#viewer', '#download', '#code']) {
      const box = await page.locator(sel).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 375, `${sel} fits in 375 px`);
    }
    // Every visible form control and button has an accessible name (label, aria-label or text).
    const unnamed = await inPage<string[]>(
      page,
      `[...document.querySelectorAll('input, select, button, [role=tab]')]
        .filter((el) => el.type !== 'hidden' && el.getClientRects().length > 0)
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
          && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
        .map((el) => el.outerHTML.slice(0, 80))`,
    );
    assert.deepEqual(unnamed, []);
    await done();
  },
);

test(
  'open mode: no key field, and the API calls carry no Authorization header',
  { skip: skipBrowser, timeout: 60_000 },
  async () => {
    const open = await startTestService();
    try {
      const { page, done } = await newPage();
      await page.goto(`${open.url}/`);
      await page.locator('#mode', { hasText: 'Open mode' }).waitFor();
      assert.equal(await page.locator('#key-form').isHidden(), true);
      await page.locator('input[name="model"]').first().waitFor({ state: 'attached' });
      const curl = (await page.locator('#code-text').textContent()) ?? '';
      assert.doesNotMatch(curl, /Authorization/);
      assert.match(curl, /-F 'image=@photo\.jpg'/);
      await shot(page, 'desktop-open-mode');
      await done();
    } finally {
      await open.close(1000);
    }
  },
);

test(
  'Faces: the toggle and strength go into the request, and the found face is outlined over the comparison',
  { skip: skipBrowser, timeout: 180_000 },
  async () => {
    const { page, done } = await newPage();
    await page.goto(`${svc.url}/`);
    await inPage(page, `localStorage.setItem("pixelift.apiKey", ${JSON.stringify(KEY)})`);
    await page.reload();
    await page.locator('input[name="model"][value="lanczos3"]').waitFor({ state: 'attached' });
    // The NASA astronaut (public domain; test/fixtures/faces/README.md): one face at 81,37 57×55.
    await page.locator('#file').setInputFiles(repoPath('test/fixtures/faces/astronaut-256.png'));
    await page.locator('label.model', { has: page.locator('input[value="lanczos3"]') }).click();
    await page.locator('details.knobs summary').click();
    await page.locator('#face').check();
    await page.locator('#face_strength').fill('0.6');
    assert.equal(await page.locator('#face_strength-out').textContent(), '0.6');
    await page.locator('#estimate', { hasText: '1024 × 1024 px' }).waitFor();
    await page.getByRole('button', { name: 'Upscale' }).click();
    await page.locator('#download:not([hidden])').waitFor({ timeout: 120_000 });
    await page.locator('#faces:not([hidden]) .face').waitFor();
    assert.equal(await page.locator('#faces .face').count(), 1);
    // The outline is the reported box in output pixels (×4), drawn in the images' own frame.
    const style = await inPage<string>(page, 'document.querySelector("#faces .face").getAttribute("style")');
    const px = (k: string) => Number(new RegExp(`${k}: ([0-9.]+)px`).exec(style)?.[1]);
    assert.ok(Math.abs(px('left') - 81.2 * 4) < 4 && Math.abs(px('width') - 57.7 * 4) < 4, style);
    assert.equal(
      await inPage(page, 'document.getElementById("faces-box").style.transform'),
      await inPage(page, 'document.getElementById("after").style.transform'),
    );
    await shot(page, 'faces-outlined');
    await done();
  },
);
