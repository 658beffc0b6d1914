// The staff web UI in headless Chromium, as a lots uses it on a phone
// (360 px wide). Run by tests/browser.rs with BASE_URL, LOGIN_USER,
// LOGIN_PASSWORD, CHROMIUM and SHOTS (a directory for screenshots).
//
// Every step waits for what a person would wait for (a text on the page),
// never for a fixed time. On every page it also checks what makes a page
// usable on a phone and with a keyboard or screen reader: nothing wider
// than the screen, a label for every field, a name for every button.
// Exits non-zero with the failing step on error.
import { chromium } from 'playwright-core';

const { BASE_URL, LOGIN_USER, LOGIN_PASSWORD, COORDINATOR_USER, ADMIN_USER, CHROMIUM, SHOTS } = process.env;
let step = 'start';
const log = (s) => { step = s; console.log(`step: ${s}`); };

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 360, height: 780 }, locale: 'sv-SE' });
page.setDefaultTimeout(20000);
const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

// What every page must satisfy. Throws with the offending elements.
async function usable(what) {
  const problems = await page.evaluate(() => {
    const out = [];
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > width + 1) {
      out.push(`page is ${document.documentElement.scrollWidth}px wide on a ${width}px screen`);
    }
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden') continue;
      const named = el.labels?.length > 0 || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!named) out.push(`field without a label: ${el.outerHTML.slice(0, 120)}`);
    }
    for (const b of document.querySelectorAll('button, a')) {
      const name = (b.textContent || '').trim() || b.getAttribute('aria-label');
      if (!name) out.push(`${b.tagName.toLowerCase()} without a name: ${b.outerHTML.slice(0, 120)}`);
    }
    if (!document.querySelector('h1')) out.push('no h1');
    return out;
  });
  if (problems.length) throw new Error(`${what} is not usable:\n  ${problems.join('\n  ')}`);
}

// Local date and time in Stockholm, `minutes` from now.
function stockholm(minutes) {
  const d = new Date(Date.now() + minutes * 60000);
  const parts = Object.fromEntries(new Intl.DateTimeFormat('sv-SE', {
    timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(d).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

async function login(user) {
  await page.goto(`${BASE_URL}/login`);
  await page.getByLabel('Användarnamn').fill(user);
  await page.getByLabel('Lösenord').fill(LOGIN_PASSWORD);
  await page.getByRole('button', { name: 'Logga in' }).click();
  await page.waitForURL(/\/today$/);
}

async function logout() {
  await page.getByRole('button', { name: 'Logga ut' }).click();
  await page.waitForURL(/\/login$/);
}

// ---- Meddelanden: a participant's messages as a chat (issue 23) ----------
// Opened from the case record after the sandbox replies (one a long word):
// the reply's bubble (its sender and reading in words), the reminder's, the
// page anchored at the newest message, nothing wider than a 360 px screen.
async function chatLog(participantUrl) {
  log('Ali also sends one long word from the sandbox phone');
  const longWord = 'qwrtpsdfghjklzxcvbnm'.repeat(4); // no word the reply parser knows
  await page.goto(`${BASE_URL}/sandbox`);
  const phone = page.locator('section.phone', { hasText: 'Ali' });
  await phone.getByLabel('Svara som Ali').fill(longWord);
  await phone.getByRole('button', { name: 'Skicka' }).click();
  await page.locator('section.phone', { hasText: 'Ali' }).locator('.b.in', { hasText: longWord }).waitFor();

  log("Ali's messages as a chat: the reply bubbles, at 360 px");
  await page.goto(participantUrl);
  await page.getByRole('link', { name: /^Meddelanden \(\d+\)$/ }).click();
  await page.waitForURL(/\/participants\/\d+\/messages#latest$/);
  const reply = page.locator('ol.chat li.in', { hasText: 'förhinder sjuk' });
  await reply.waitFor();
  await reply.getByText('Från Ali').waitFor();
  await reply.getByText('Tolkat som: förhinder').waitFor();
  await page.locator('ol.chat li.out', { hasText: 'Till Ali' }).first().waitFor();
  await page.locator('ol.chat li.in', { hasText: longWord }).getByText('Tolkat som: ej förstått').waitFor();
  await usable('the messages');
  const tooWide = await page.evaluate(() => [...document.querySelectorAll('ol.chat .b')]
    .filter((b) => b.getBoundingClientRect().right > document.documentElement.clientWidth).length);
  if (tooWide) throw new Error(`${tooWide} message bubbles reach past the screen`);
  await shot('messages');
  await page.getByRole('link', { name: 'Tillbaka till Ali' }).first().click();
  await page.waitForURL((u) => u.href.startsWith(participantUrl));
}
// ---- end Meddelanden --------------------------------------------------------

try {
  log('a page asks for the login first; log in with the keyboard only');
  await page.goto(`${BASE_URL}/today`);
  await page.waitForURL(/\/login\?next=/);
  await usable('the login page');
  await shot('login');
  await page.getByLabel('Användarnamn').focus();
  await page.keyboard.type(LOGIN_USER);
  await page.keyboard.press('Tab');
  await page.keyboard.type(LOGIN_PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/today$/);
  await page.getByRole('heading', { level: 1 }).waitFor();
  await usable('Today');

  log('create a participant');
  await page.getByRole('link', { name: 'Deltagare', exact: true }).click();
  await page.getByRole('link', { name: 'Ny deltagare' }).click();
  await usable('the new participant form');
  await page.getByLabel('Förnamn').fill('Ali');
  await page.getByLabel('Telefonnummer').fill('070-111 11 11');
  await page.getByLabel('SMS', { exact: true }).check();
  await page.getByRole('button', { name: 'Lägg till deltagare' }).click();
  await page.waitForURL(/\/participants\/\d+$/);
  const participantUrl = page.url().split(/[?#]/)[0];

  log('book an appointment 90 minutes from now');
  await page.getByRole('link', { name: 'Ny tid' }).click();
  await usable('the appointment form');
  const at = stockholm(90);
  await page.getByLabel('Datum').fill(at.date);
  await page.getByLabel('Klockslag').fill(at.time);
  await page.getByRole('button', { name: 'Boka' }).click();
  await page.waitForURL((u) => u.href.startsWith(participantUrl));

  log('the reminder reaches the sandbox phone');
  await page.getByRole('link', { name: 'Sandlådetelefon' }).click();
  const phone = page.locator('section.phone', { hasText: 'Ali' });
  await phone.locator('.b.out').first().waitFor();
  await usable('the sandbox phone');

  log('answer "förhinder sjuk" as Ali');
  await phone.getByLabel('Svara som Ali').fill('förhinder sjuk');
  await phone.getByRole('button', { name: 'Skicka' }).click();
  await page.locator('section.phone', { hasText: 'Ali' }).locator('.b.in', { hasText: 'förhinder sjuk' }).waitFor();
  await shot('sandbox');

  log('Today shows the reply and the task');
  await page.getByRole('link', { name: 'Idag', exact: true }).click();
  await page.getByText('förhinder: sjuk').first().waitFor();
  const tasks = page.locator('section', { has: page.getByRole('heading', { name: 'Mina uppgifter' }) });
  await tasks.getByText('Ali').first().waitFor();
  await shot('today');

  log('the timeline shows the reply and its reason');
  await page.goto(participantUrl);
  await page.getByText('Svarade FÖRHINDER (SMS)').first().waitFor();
  await page.getByText('sjuk').first().waitFor();
  await usable('the case record');
  await shot('participant');
  await chatLog(participantUrl);

  log("correct Ali's phone number: a bad one is refused in Swedish and kept, a good one saved");
  await page.getByRole('link', { name: 'Ändra uppgifter' }).click();
  await page.waitForURL(/\/participants\/\d+\/edit$/);
  await usable('the edit form');
  await page.getByLabel('Telefonnummer').fill('070-12');
  await page.getByRole('button', { name: 'Spara' }).click();
  await page.getByText('Numret går inte att använda').first().waitFor();
  if ((await page.getByLabel('Telefonnummer').inputValue()) !== '070-12') throw new Error('the typed number was not kept');
  await page.getByLabel('Telefonnummer').fill('070-444 44 44');
  await page.getByRole('button', { name: 'Spara' }).click();
  await page.waitForURL((u) => u.href.startsWith(participantUrl) && u.search.includes('saved=1'));
  await page.getByText('Uppgifter ändrade: telefonnummer').first().waitFor();

  log("record Sara's attendance with one tap, then undo it and record it again");
  await page.getByRole('link', { name: 'Idag', exact: true }).click();
  const sara = page.locator('article, li, .card', { hasText: 'Sara' }).filter({ has: page.getByRole('button', { name: 'Närvarade' }) }).first();
  await sara.getByRole('button', { name: 'Närvarade' }).click();
  await page.waitForURL(/\/today\?att=\d+/);
  await page.getByText('Närvaro: Sara, närvarade.').first().waitFor();
  await page.locator('.badge.attended', { hasText: 'Närvarade' }).first().waitFor();
  await page.getByRole('button', { name: 'Ångra närvaron för Sara' }).click();
  await page.waitForURL(/\/today\?att_undone=\d+/);
  await page.getByText('Ångrat: närvaron för Sara är som förut.').first().waitFor();
  const again = page.locator('article', { hasText: 'Sara' }).filter({ has: page.getByRole('button', { name: 'Närvarade' }) }).first();
  await again.getByRole('button', { name: 'Närvarade' }).click();
  await page.waitForURL(/\/today\?att=\d+/);
  await page.locator('.badge.attended', { hasText: 'Närvarade' }).first().waitFor();

  log('the other main pages, for the README');
  for (const [name, path] of [['calendar', '/calendar'], ['participants', '/participants']]) {
    await page.goto(`${BASE_URL}${path}`);
    await usable(path);
    await shot(name);
  }
  log('a coordinator sees monitoring and settings');
  await logout();
  await login(COORDINATOR_USER);
  await page.getByRole('link', { name: 'Uppföljning', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Uppföljning' }).waitFor();
  await page.getByText('Ali').first().waitFor();
  await usable('/monitoring');
  await shot('monitoring');
  await page.getByRole('link', { name: 'Inställningar', exact: true }).click();
  await usable('/settings');
  await shot('settings');
  await page.goto(`${BASE_URL}/settings/templates`);
  await usable('/settings/templates');
  await shot('templates');

  log('the coordinator sends a broadcast tied to the group activity');
  await page.getByRole('link', { name: 'Utskick', exact: true }).click();
  await page.goto(`${BASE_URL}/broadcasts/new`);
  await usable('/broadcasts/new');
  await page.getByLabel('Svensk text').fill('Gruppträffen flyttas till 14:00.');
  await page.getByLabel('Engelsk text').fill('The group meeting moves to 14:00.');
  await page.getByLabel('Gäller aktivitet').selectOption({ index: 1 });
  await page.getByRole('button', { name: 'Förhandsgranska' }).click();
  await page.getByText('Så här ser meddelandet ut').waitFor();
  await page.getByRole('button', { name: 'Skicka' }).click();
  await page.waitForURL(/\/broadcasts\/\d+$/);
  const statusUrl = page.url();

  log('two members answer on the sandbox phone');
  await page.getByRole('link', { name: 'Sandlådetelefon' }).click();
  for (const [name, reply, label] of [['Sara', 'kommer', 'Svara som Sara'], ['Bo', 'förhinder, sick', 'Svara som Bo']]) {
    const card = page.locator('section.phone', { hasText: name });
    await card.locator('.b.out', { hasText: '14:00' }).first().waitFor();
    await card.getByLabel(label).fill(reply);
    await card.getByRole('button', { name: 'Skicka' }).click();
    await page.locator('section.phone', { hasText: name }).locator('.b.in', { hasText: reply }).waitFor();
  }

  log('the tally: one coming, one cannot with the reason');
  await page.goto(statusUrl);
  await page.getByText('Kommer: 1').waitFor();
  await page.getByText('Förhinder: 1').waitFor();
  await page.getByText('sick').first().waitFor();
  await usable('the broadcast status');
  await shot('broadcast');

  log("an admin reads in the audit log who viewed Ali's case record");
  await logout();
  await login(ADMIN_USER);
  await page.getByRole('link', { name: 'Granskningslogg', exact: true }).click();
  await page.getByText('case.view').first().waitFor();
  await usable('/audit');
  await shot('audit');
  console.log('ok');
} catch (e) {
  console.log(`FAILED at step "${step}": ${e.message}`);
  await page.screenshot({ path: `${SHOTS}/failure.png`, fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
