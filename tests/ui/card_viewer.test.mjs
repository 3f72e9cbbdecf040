// The card viewer (service/ui) in Debian's chromium, headless, driven by playwright-core:
// the real `magnesium-cds serve --enable-ui` on a free loopback port, the real endpoints,
// feedback read back from the SQLite store with `magnesium-cds feedback-report`.
// Environment (set by tests/ui/CMakeLists.txt): CDS_BINARY, CDS_SOURCE_DIR, CDS_UI_ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const binary = process.env.CDS_BINARY;
const source_dir = process.env.CDS_SOURCE_DIR;
const artifacts = process.env.CDS_UI_ARTIFACTS;
assert.ok(binary && source_dir && artifacts, 'CDS_BINARY, CDS_SOURCE_DIR and CDS_UI_ARTIFACTS must be set');

// Every bundled scenario is dated relative to this time (fixtures/scenarios/README.md).
const scenario_now = '2026-03-10T09:00:00Z';
const severe_scenario = 'fires_pv_severe_iv_2g';
// A detail text the compared rule file puts in its cards: must reach the page as text.
const hostile_text = '<script>window.__card_script_ran = true</script><img src=x onerror="window.__card_script_ran = true">';

let work_dir;
let server;
let port;
let browser;
let server_log = '';

function feedback_db() {
    return path.join(work_dir, 'feedback.db');
}

// The bundled rules with the severe threshold moved and a hostile detail text: the card
// viewer's compare mode loads it with --ui-rules.
function write_compare_rules() {
    const rules = JSON.parse(readFileSync(path.join(source_dir, 'rules/config/magnesium-rules.json'), 'utf8'));
    rules.version = rules.version + '-ui-test';
    rules.texts.threshold.severe = 'Scale note ' + hostile_text + ' Severe: below {below} mg/dL.';  // in the severe card's detail
    rules.texts.actions.iv = 'IV magnesium sulfate suggested ' + hostile_text;
    const file = path.join(work_dir, 'hostile-rules.json');
    writeFileSync(file, JSON.stringify(rules));
    return file;
}

function start_server(compare_rules) {
    return new Promise((resolve, reject) => {
        const args = ['serve', '--listen', '127.0.0.1:0', '--threads', '2', '--now', scenario_now, '--enable-ui',
            '--ui-rules', compare_rules, '--feedback-db', feedback_db(), '--log-level', 'info'];
        const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (text) => { server_log += text; });
        child.on('error', reject);
        child.on('exit', (code) => reject(new Error('serve exited early with ' + code)));
        const lines = createInterface({ input: child.stdout });
        lines.once('line', (line) => {
            const match = /^listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
            if (!match) reject(new Error('unexpected first line: ' + line));
            else resolve({ child, port: Number(match[1]) });
        });
    });
}

function feedback_report() {
    return JSON.parse(execFileSync(binary, ['feedback-report', '--feedback-db', feedback_db()], { encoding: 'utf8' }));
}

async function screenshot(page, name) {
    await page.screenshot({ path: path.join(artifacts, name + '.png'), fullPage: true });
}

async function open_viewer() {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
    await page.goto(`http://127.0.0.1:${port}/ui`);
    await page.locator(`#scenario option:text-is("${severe_scenario}")`).waitFor({ state: 'attached' });
    return { page, problems };
}

async function fire_scenario(page, id) {
    const value = await page.locator(`#scenario option:text-is("${id}")`).getAttribute('value');
    await page.selectOption('#scenario', value);
    await page.click('#fire');
    await page.locator('#cards-status').filter({ hasText: 'card(s)' }).waitFor();
}

before(async () => {
    mkdirSync(artifacts, { recursive: true });
    work_dir = mkdtempSync(path.join(tmpdir(), 'magnesium-cds-ui-'));
    ({ child: server, port } = await start_server(write_compare_rules()));
    server.removeAllListeners('exit');
    // A fresh profile each run (playwright passes it to chromium as --user-data-dir).
    browser = await chromium.launchPersistentContext(path.join(work_dir, 'chromium-profile'), {
        executablePath: '/usr/bin/chromium',
        headless: true,
        viewport: { width: 1400, height: 1000 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
});

after(async () => {
    if (browser) await browser.close();
    if (server) {
        server.kill('SIGTERM');
        await new Promise((resolve) => server.once('exit', resolve));
    }
    if (work_dir) rmSync(work_dir, { recursive: true, force: true });
});

test('the page is off without --enable-ui and public with it', async () => {
    const page = await fetch(`http://127.0.0.1:${port}/ui`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
    assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
    const plain = await start_server_without_ui();
    try {
        assert.equal((await fetch(`http://127.0.0.1:${plain.port}/ui`)).status, 404);
        assert.equal((await fetch(`http://127.0.0.1:${plain.port}/ui/app.js`)).status, 404);
    } finally {
        plain.child.kill('SIGTERM');
    }
});

function start_server_without_ui() {
    return new Promise((resolve, reject) => {
        const child = spawn(binary, ['serve', '--listen', '127.0.0.1:0', '--threads', '1', '--log-level', 'warn'],
            { stdio: ['ignore', 'pipe', 'inherit'] });
        child.on('error', reject);
        createInterface({ input: child.stdout }).once('line', (line) => {
            const match = /:(\d+)$/.exec(line.trim());
            if (match) resolve({ child, port: Number(match[1]) });
            else reject(new Error('unexpected first line: ' + line));
        });
    });
}

test('severe magnesium: critical card, suggestion, trace; accept and dismiss are stored', async () => {
    const { page, problems } = await open_viewer();
    await fire_scenario(page, severe_scenario);

    const critical = page.locator('article.card.indicator-critical').first();
    await critical.waitFor();
    // Severity is said in words and an icon, not only by colour.
    assert.equal((await critical.locator('.indicator').innerText()).trim().toUpperCase().endsWith('CRITICAL'), true);
    const suggestion = critical.locator('.suggestion').first();
    assert.match(await suggestion.innerText(), /magnesium sulfate/i);
    assert.match(await suggestion.locator('.resource').first().innerText(), /Route[\s\S]*Dose/);

    const why = critical.locator('details.explain');
    assert.equal(await why.getAttribute('open'), null, 'the trace starts collapsed');
    await why.locator('summary').click();
    const trace_items = why.locator('ol.trace li');
    assert.ok(await trace_items.count() > 0, 'the trace lists the decisions');
    // The card's own rule first, with the values and thresholds it compared.
    const met = why.locator('ol.trace').first().locator('.trace-compared li.met');
    assert.match(await met.first().innerText(), /met: a counted serum magnesium result/);
    assert.match(await why.locator('ol.trace').first().innerText(), /serum magnesium below the low threshold: 1\.1 mg\/dL < 1\.8 mg\/dL/);
    await screenshot(page, 'severe-card');

    assert.equal(feedback_report().totalEntries, 0);
    await critical.locator('button.accept').first().click();
    await critical.locator('.feedback-status').filter({ hasText: 'feedback stored' }).waitFor();

    // Another card, a warning, dismissed with a reason.
    await fire_scenario(page, 'fires_sign_furosemide_and_ppi_one_card');
    const other = page.locator('article.card.indicator-warning').first();
    await other.waitFor();
    const reason = other.locator('select').first();
    const reason_label = await reason.locator('option').nth(1).innerText();
    await reason.selectOption({ index: 1 });
    await other.locator('input[type="text"]').fill('discussed with the team');
    await other.locator('button.dismiss').click();
    await other.locator('.feedback-status').filter({ hasText: 'feedback stored' }).waitFor();
    await screenshot(page, 'feedback-stored');

    const report = feedback_report();
    assert.equal(report.totalEntries, 2, JSON.stringify(report));
    const accepted = report.counts.find((c) => c.outcome === 'accepted');
    assert.ok(accepted && accepted.serviceId === 'magnesium-patient-view' && accepted.acceptedSuggestions === 1,
        JSON.stringify(report));
    const overridden = report.counts.find((c) => c.outcome === 'overridden');
    assert.ok(overridden && overridden.serviceId === 'magnesium-order-sign' && overridden.withUserComment === 1,
        JSON.stringify(report));
    assert.equal(overridden.overrideReason.display, reason_label);
    assert.deepEqual(problems, []);
    await page.close();
});

test('a malformed request gives a readable error', async () => {
    const { page } = await open_viewer();
    await page.fill('#request-json', '{"hook": "patient-view", "context": ');
    await page.click('#fire');
    const error = page.locator('#error');
    await error.waitFor();
    assert.match(await error.innerText(), /not valid JSON/);

    // Valid JSON, but not a CDS Hooks request: the service's OperationOutcome, in words.
    await page.fill('#request-json', '{"hook": "patient-view", "context": {}}');
    await page.click('#fire');
    await error.filter({ hasText: 'The service answered 400' }).waitFor();
    assert.match(await error.innerText(), /hookInstance|required/);
    await screenshot(page, 'malformed-request');
    await page.close();
});

test('compare mode: differences marked, a <script> in card text is shown as text', async () => {
    const { page, problems } = await open_viewer();
    const compare_value = await page.locator('#compare option').nth(1).getAttribute('value');
    await page.selectOption('#compare', compare_value);
    await fire_scenario(page, severe_scenario);

    const columns = page.locator('#columns section.column');
    assert.equal(await columns.count(), 2);
    assert.ok(await page.locator('article.differs').count() > 0, 'changed cards are marked');
    const compared = columns.nth(1);
    await compared.locator('article.card').first().waitFor();
    const detail = await compared.locator('article.card .detail').first().innerText();
    assert.ok(detail.includes('Scale note ' + hostile_text), 'the detail shows the script as text: ' + detail);
    assert.equal(await page.evaluate(() => window.__card_script_ran), undefined, 'no card script ran');
    assert.equal(await compared.locator('script, img').count(), 0, 'no element came from card text');
    await screenshot(page, 'compare');
    assert.deepEqual(problems, []);
    await page.close();
});

test('explain: refused unless enabled or asked by the card viewer; ?rules only for the viewer', async () => {
    const request = readFileSync(path.join(source_dir, 'fixtures/scenarios', severe_scenario, 'request.json'), 'utf8');
    const call = (query, headers = {}) => fetch(`http://127.0.0.1:${port}/cds-services/magnesium-patient-view${query}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: request,
    });
    const plain = await call('');
    assert.equal(plain.status, 200);
    assert.equal((await plain.json()).explain, undefined, 'never by default');
    assert.equal((await call('?explain=true')).status, 400, 'not enabled for calls outside the viewer');
    assert.equal((await call('?rules=hostile-rules.json')).status, 400);
    const viewer = await call('?explain=true', { 'X-Card-Viewer': '1' });
    const body = await viewer.json();
    assert.equal(body.explain.ruleSetId, 'magnesium-cds-rules');
    assert.ok(Array.isArray(body.explain.entries) && body.explain.entries.length > 0);
    assert.equal(body.explain.layout, 'magnesium-cds-explain/2');
    const documented = ['rule', 'subject', 'message', 'section', 'decision', 'reason', 'resource', 'values', 'compared'];
    for (const entry of body.explain.entries) {
        for (const key of ['rule', 'subject', 'message', 'section', 'decision']) assert.equal(typeof entry[key], 'string', key);
        for (const key of Object.keys(entry)) assert.ok(documented.includes(key), key);
    }
    // The trace may quote clinical values: it is never logged (the request lines are).
    assert.match(server_log, /\/cds-services\/\{id\}/);
    for (const entry of body.explain.entries) assert.ok(!server_log.includes(entry.message), entry.message);
    assert.ok(!server_log.includes('mg-20407'), 'no resource id of the patient in the log');
});

test('evaluate --explain prints the same trace, as JSON or as text', () => {
    const request = path.join(source_dir, 'fixtures/scenarios', severe_scenario, 'request.json');
    const run = (...extra) => execFileSync(binary, ['evaluate', request, '--now', scenario_now, ...extra], { encoding: 'utf8' });
    assert.equal(JSON.parse(run()).explain, undefined);
    const json = JSON.parse(run('--explain', '--format', 'json'));
    assert.equal(json.cards[0].indicator, 'critical');
    assert.equal(json.explain.ruleSetId, 'magnesium-cds-rules');
    assert.ok(json.explain.entries.some((e) => e.rule === 'hypomagnesemia'));
    const text = run('--explain', '--format', 'text');
    assert.match(text, /^1 card\n/);
    assert.match(text, /\[critical\] Mg 1\.1 mg\/dL/);
    assert.match(text, /why \(rule set magnesium-cds-rules [^)]+\):\n/);
    assert.match(text, /\nSerum magnesium used\n {2}chosen +Observation\/[^:]+: serum Mg 1\.1 mg\/dL: severe, current/);
    assert.match(text, /\nRules \(fired or not, and the values compared\)\n {2}fired +hypomagnesemia: fired: a critical card\n/);
    assert.match(text, / {8}\[met\] +serum magnesium below the low threshold: 1\.1 mg\/dL < 1\.8 mg\/dL\n/);
});
