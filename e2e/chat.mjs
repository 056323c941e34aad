// Browser test of examples/chat.hcl: two pages join one room and exchange
// messages over WebSocket; a message published over HTTP reaches both
// pages' news tickers through EventSource.
//
//   node e2e/chat.mjs http://127.0.0.1:PORT
//
// Exits 0 on success; prints what failed otherwise.
import { chromium } from 'playwright-core';

const base = process.argv[2];
if (!base) {
  console.error('usage: node chat.mjs BASE_URL');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const timeout = 10_000;
try {
  const ctx = await browser.newContext();
  const [alice, bob] = [await ctx.newPage(), await ctx.newPage()];
  for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
    page.on('pageerror', (err) => { console.error(`${name} page error:`, err.message); process.exitCode = 1; });
    await page.goto(base + '/', { waitUntil: 'domcontentloaded' });
    await page.fill('#name', name);
    await page.fill('#room', 'e2e-room');
    await page.click('#join button');
    await page.waitForSelector('body[data-connected="e2e-room"]', { timeout });
    await page.waitForSelector('body[data-news="open"]', { timeout });
  }

  const say = async (page, text) => {
    await page.fill('#text', text);
    await page.click('#send');
  };
  const expectMessage = (page, who, text) => page.waitForFunction(
    ([who, text]) => [...document.querySelectorAll('#messages li')]
      .some((li) => li.querySelector('.who')?.textContent === who && li.textContent.endsWith(text)),
    [who, text], { timeout });

  await say(alice, 'hello from alice <b>not bold</b> ✓');
  await expectMessage(bob, 'alice', 'hello from alice <b>not bold</b> ✓');
  await expectMessage(alice, 'alice', 'hello from alice <b>not bold</b> ✓');
  await say(bob, 'hi alice — bob here');
  await expectMessage(alice, 'bob', 'hi alice — bob here');
  if (await bob.locator('#messages b').count() !== 0) throw new Error('markup from a message was rendered');

  const res = await fetch(base + '/publish/news', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'headline', id: '1', data: 'Breaking: pagi streams news' }),
  });
  if (res.status !== 202) throw new Error(`publish answered ${res.status}`);
  for (const page of [alice, bob]) {
    await page.waitForFunction(() => document.getElementById('news').textContent === 'Breaking: pagi streams news', null, { timeout });
  }
  console.log('chat e2e: ok');
} catch (err) {
  console.error('chat e2e failed:', err.message);
  process.exitCode = 1;
} finally {
  await browser.close();
}
