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
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const AXE_VERSION = require('axe-core/package.json').version;

const { BASE_URL, LOGIN_USER, LOGIN_PASSWORD, COORDINATOR_USER, ADMIN_USER, CHROMIUM, SHOTS } = process.env;
const { HOOK_URL } = process.env; // event webhooks (issue 19): the receiver tests/browser.rs started
let step = 'start';
const log = (s) => { step = s; console.log(`step: ${s}`); };

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
// bypassCSP: only so the test can inject axe-core; the pages' own policy
// allows no inline script.
const page = await browser.newPage({ viewport: { width: 360, height: 780 }, locale: 'sv-SE', bypassCSP: true });
page.setDefaultTimeout(20000);
const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

// axe-core's WCAG 2.1 A and AA rules on the page as it is now (issue 20).
// Throws with each violation, its help text and the elements.
const WCAG = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const axeChecked = new Set();
async function axe(what) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n      ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n      ')}`);
  }, WCAG);
  if (violations.length) throw new Error(`${what}: ${violations.length} accessibility violation(s):\n    ${violations.join('\n    ')}`);
  axeChecked.add(what);
}

// Both widths of issue 20: a phone (360 px) and a desk (1366 px), and 200 %
// zoom at 1366 px (a 683 px wide layout viewport) without sideways scrolling.
async function accessible(what) {
  await axe(`${what} at 360 px`);
  await page.setViewportSize({ width: 1366, height: 900 });
  await axe(`${what} at 1366 px`);
  await page.setViewportSize({ width: 683, height: 450 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (wide > 1) throw new Error(`${what} scrolls sideways by ${wide}px at 200 % zoom on a 1366 px screen`);
  await page.setViewportSize({ width: 360, height: 780 });
}

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
  await accessible(what);
}

// Every page in the menu and the account page, as the signed-in role:
// usable and accessible (issue 20: every page, as each role).
async function everyMenuPage(role) {
  const hrefs = await page.locator('header.top nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  for (const h of [...hrefs, '/account']) {
    await page.goto(`${BASE_URL}${h}`);
    await usable(`${h} as ${role}`);
  }
}

// The role's menu pages, the account page and `more` in English: none of
// the page's own words is Swedish (issue 20: mixed languages). Names,
// replies and the Swedish message texts a page quotes are data, so they
// are not looked at. Switches back to Swedish at the end.
async function inEnglish(role, more = []) {
  log(`in English, no page ${role} sees speaks Swedish`);
  await page.goto(`${BASE_URL}/lang/en?next=/today`);
  await page.getByRole('link', { name: 'Today', exact: true }).waitFor();
  const hrefs = await page.locator('header.top nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  // Whole words: JavaScript's \b knows only ASCII letters, so å, ä and ö
  // are told apart with Unicode letter classes.
  const swedish = '(?<!\\p{L})(Spara|Sparat|Tillbaka|Sök|Välj|Inga|Ingen|Inget|Skicka|Ändra|Deltagare|Uppgifter|Uppgift|Inställningar|Idag|Kommande|Förhandsgranska|Visa|Alla|Senaste|Nästa|Föregående|Boka|Bokad|Tid|Tider|Svar|Kommer|Förhinder|Avbryt|Ställ|Logga|Meddelanden|Påminnelse|Påminnelser|Samtycke|och|eller|för|med|inte|av|är|på)(?!\\p{L})';
  for (const h of [...hrefs, '/account', ...more]) {
    await page.goto(`${BASE_URL}${h}`);
    const found = await page.evaluate((re) => {
      const r = new RegExp(re, 'u');
      const out = [];
      const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        const el = n.parentElement;
        if (el.closest('q, .bc-text, .b, .sample, [lang="sv"], code, td[data-label], .timeline, option, script, style')) continue;
        const m = n.textContent.match(r);
        if (m) out.push(`${m[0]} in "${n.textContent.trim().slice(0, 80)}"`);
      }
      return out;
    }, swedish);
    if (found.length) throw new Error(`${h} in English, as ${role}, still says: ${found.join('; ')}`);
    await usable(`${h} in English as ${role}`);
  }
  await page.goto(`${BASE_URL}/lang/sv?next=/today`);
  await page.getByRole('link', { name: 'Idag', exact: true }).waitFor();
}

// Presses Tab until the control named `name` has the focus (at most 60
// times) and checks that the focus can be seen: keyboard-only use.
async function tabTo(name) {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const here = await page.evaluate(() => (document.activeElement?.textContent || '').trim());
    if (here === name) {
      const ring = await page.evaluate(() => {
        const st = getComputedStyle(document.activeElement);
        return { style: st.outlineStyle, width: parseFloat(st.outlineWidth) };
      });
      if (ring.style === 'none' || !(ring.width > 0)) throw new Error(`the focus on "${name}" cannot be seen`);
      return;
    }
  }
  throw new Error(`"${name}" cannot be reached with Tab`);
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

// ---- unit templates (issue 23; the unit-templates branch) ----
// A coordinator, at a desk (1366 px), edits the unit's Swedish reminder:
// the live counter follows the typing, the preview fills in the sample,
// saving marks the text as the unit's own; reset brings the default back.
// The edit page is also checked at 360 px.
async function unitTemplates() {
  log('a coordinator edits the unit\'s Swedish reminder (1366 px)');
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(`${BASE_URL}/settings/templates`);
  await page.getByRole('heading', { level: 2, name: /Enhetens påminnelser och kallelser/ }).waitFor();
  await page.locator('#tpl-unit-reminder-reply-sv').getByRole('link', { name: /^Ändra/ }).click();
  await page.waitForURL(/\/settings\/templates\/reminder-reply\/sv\?unit=\d+$/);
  await usable('the template edit page');
  const box = page.getByLabel('Text', { exact: true });
  await box.fill('{namn}, vi ses {tid}! Svara KOMMER eller FÖRHINDER.');
  await page.locator('#body-count', { hasText: /Med exemplet: \d+ tecken · 1 sms/ }).waitFor();
  await page.getByRole('button', { name: 'Förhandsgranska' }).click();
  await page.getByRole('heading', { name: /Så här blir meddelandet/ }).waitFor();
  await page.locator('.preview-text', { hasText: /^Ali, vi ses imorgon .* kl\. 09:00! Svara KOMMER eller FÖRHINDER\.$/ }).waitFor();
  await page.getByText('SMS-delar: 1').first().waitFor();
  await shot('template-edit');
  await page.getByRole('button', { name: 'Spara' }).click();
  await page.waitForURL(/\/settings\/templates\?unit=\d+&saved=reminder-reply-sv/);
  const card = page.locator('#tpl-unit-reminder-reply-sv');
  await card.getByText('Egen text för enheten').waitFor();
  await card.getByText(/Ali, vi ses imorgon/).waitFor();
  await usable('/settings/templates with an edited text');
  await card.getByRole('button', { name: /Återställ till standard/ }).click();
  await page.waitForURL(/reset=reminder-reply-sv/);
  await page.locator('#tpl-unit-reminder-reply-sv').getByText('Hej Ali! Påminnelse').waitFor();
  await page.setViewportSize({ width: 360, height: 780 });
  await page.goto(`${BASE_URL}/settings/templates/summons/en`);
  await usable('the template edit page at 360 px');
}
// ---- end unit templates ----

// ---- calendar feed (issue 19, item 2) ----
// The lots makes a calendar link on the account page and fetches it as a
// calendar app would (no session, no cookies): an iCalendar text.
async function calendarFeed() {
  log('a lots makes a calendar link and a calendar app fetches it (issue 19)');
  await page.goto(`${BASE_URL}/account`);
  await page.getByRole('link', { name: 'Kalender i Outlook eller telefonen' }).click();
  await page.getByRole('heading', { level: 1, name: 'Kalender i Outlook eller telefonen' }).waitFor();
  await usable('/account/calendar');
  await page.getByRole('button', { name: 'Skapa länk' }).first().click();
  const url = await page.getByLabel('Adress att prenumerera på').inputValue();
  if (!/\/calendar\/[A-Za-z0-9_-]+\.ics$/.test(url)) throw new Error(`no calendar link shown: ${url}`);
  await usable('/account/calendar with a new link');
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200 || !text.startsWith('BEGIN:VCALENDAR')) {
    throw new Error(`the feed answered ${res.status}: ${text.slice(0, 80)}`);
  }
  if (!/SUMMARY:\S+ – /.test(text)) throw new Error('the feed has no appointment named by first name and kind');
}
// ---- end calendar feed ----

// ---- outcomes and trials (issue 21; the outcomes branch) ----
// A coordinator opens the unit's outcome report (tables, chart, small cells
// hidden) and the trials page with its form; axe runs on both.
async function outcomesAndTrials() {
  log('a coordinator opens the outcome report and the trials page');
  await page.getByRole('link', { name: 'Utfall', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: /^Utfall/ }).waitFor();
  await page.getByRole('heading', { level: 2, name: 'Tabeller' }).waitFor();
  await usable('/outcomes');
  await shot('outcomes');
  await page.getByRole('link', { name: 'Försök med tider och formuleringar' }).click();
  await page.getByRole('heading', { level: 1, name: /^Försök/ }).waitFor();
  await page.getByLabel('Namn på försöket').fill('24h eller 48h');
  await page.getByRole('button', { name: 'Starta försöket' }).click();
  await page.locator('section.trial', { hasText: '24h eller 48h' }).waitFor();
  await usable('/outcomes/trials');
  await shot('trials');
}
// ---- end outcomes and trials ----
// ---- event webhooks (issue 19; the hooks branch) ----
// An admin registers an endpoint pointing at the receiver tests/browser.rs
// started (HOOK_URL), sees its secret once, makes an event (Ali repeats
// "förhinder sjuk" on the sandbox phone: the reply the rest of the test
// checks stays as it was) and sees the delivery listed as delivered.
// The page is reloaded until the worker has delivered (bounded).
async function eventHooks() {
  log('an admin registers an event webhook and sees the delivery (issue 19)');
  await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhooks för händelser' }).waitFor();
  await page.getByLabel('Adress (https://)').fill(HOOK_URL);
  await page.getByRole('button', { name: 'Registrera' }).click();
  await page.getByText('Mottagaren är registrerad.').waitFor();
  const secret = await page.locator('#event-hook-secret').textContent();
  if (!secret.startsWith('whsec_')) throw new Error(`no secret shown: ${secret}`);
  await usable('the event webhooks page with a new secret');
  await page.goto(`${BASE_URL}/sandbox`);
  const phone = page.locator('section.phone', { hasText: 'Ali' });
  const before = await phone.locator('.b.in', { hasText: 'förhinder sjuk' }).count();
  await phone.getByLabel('Svara som Ali').fill('förhinder sjuk');
  await phone.getByRole('button', { name: 'Skicka' }).click();
  await page.locator('section.phone', { hasText: 'Ali' }).locator('.b.in', { hasText: 'förhinder sjuk' }).nth(before).waitFor();
  for (let i = 0; ; i++) {
    await page.goto(`${BASE_URL}/event-hooks`);
    if (await page.locator('tr[data-status="delivered"]', { hasText: 'reply.received' }).count()) break;
    if (i === 50) throw new Error('no delivery of reply.received was listed as delivered');
    await page.waitForTimeout(200);
  }
  await page.locator('tr[data-status="delivered"]').first().getByText('Levererad').waitFor();
  await usable('the event webhooks page with a delivery');
  await shot('event-hooks');
}
// ---- end event webhooks ----

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

// ---- sign-in through the identity provider (issue 18; the oidc branch) ----
// FLOW=oidc: only this. A lots clicks "Logga in med <provider>" on
// paminn's login page, signs in on the provider's own page (oidc-provider,
// tests/oidc-provider: not paminn's, so axe does not check it), lands on
// Today, and logs out of both.
async function oidcFlow() {
  const { OIDC_ACCOUNT, OIDC_PROVIDER_NAME } = process.env;
  log('a page asks for the login first; the login page offers the organisation\'s sign-in');
  await page.goto(`${BASE_URL}/today`);
  await page.waitForURL(/\/login\?next=/);
  await usable('the login page with the identity provider\'s button');
  await shot('login-oidc');
  log('a lots signs in through the provider\'s pages');
  await page.getByRole('link', { name: `Logga in med ${OIDC_PROVIDER_NAME}` }).click();
  await page.getByLabel('Konto').fill(OIDC_ACCOUNT);
  await page.getByRole('button', { name: 'Logga in' }).click();
  await page.waitForURL(/\/today$/);
  await page.getByRole('heading', { level: 1 }).waitFor();
  await usable('Today, signed in through the identity provider');
  log('logging out ends the session here and at the provider');
  await page.getByRole('button', { name: 'Logga ut' }).click();
  await page.getByRole('button', { name: /sign me out/i }).click();
  await page.waitForURL(/\/login$/);
  await usable('the login page after logging out');
}

if (process.env.FLOW === 'oidc') {
  try {
    await oidcFlow();
    console.log(`axe-core ${AXE_VERSION}: ${axeChecked.size} page states checked (WCAG 2.1 A/AA), 0 violations`);
    console.log('ok');
  } catch (e) {
    console.log(`FAILED at step "${step}": ${e.message}`);
    await page.screenshot({ path: `${SHOTS}/failure.png`, fullPage: true }).catch(() => {});
    await browser.close();
    process.exit(1);
  }
  await browser.close();
  process.exit(0);
}

try {
  log("the form checks speak the UI's language on a browser set to English");
  {
    const en = await browser.newPage({ viewport: { width: 360, height: 780 }, locale: 'en-US' });
    await en.goto(`${BASE_URL}/login`);
    await en.getByRole('button', { name: 'Logga in' }).click();
    const said = await en.getByLabel('Användarnamn').evaluate((el) => el.validationMessage);
    if (said !== 'Fyll i det här fältet.') throw new Error(`an empty user name was refused with "${said}"`);
    if (!en.url().endsWith('/login')) throw new Error('an empty form was sent');
    await en.close();
  }

  log('the accessibility statement is one click from the login page');
  await page.goto(`${BASE_URL}/login`);
  await page.getByRole('link', { name: 'Tillgänglighet' }).click();
  await page.getByRole('heading', { level: 1, name: 'Tillgänglighetsredogörelse för paminn' }).waitFor();
  await usable('the accessibility statement');
  await shot('accessibility');

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
  await everyMenuPage('a lots');
  await page.goto(`${BASE_URL}/today`);

  log('create a participant');
  await page.getByRole('link', { name: 'Deltagare', exact: true }).click();
  await page.getByRole('link', { name: 'Ny deltagare' }).click();
  // A click starts the navigation and does not wait for the new page:
  // check the page once its heading is there, not the one being left.
  await page.getByRole('heading', { level: 1, name: 'Ny deltagare' }).waitFor();
  await usable('the new participant form');
  await page.getByLabel('Förnamn').fill('Ali');
  await page.getByLabel('Telefonnummer').fill('070-111 11 11');
  await page.getByLabel('SMS', { exact: true }).check();
  log('a double submit sends the form once');
  {
    // Two submits in a row, as a double tap makes them; a listener after
    // forms.js's counts those that would go to the server and stops them.
    const sent = await page.evaluate(() => {
      const form = document.querySelector('form[action="/participants"][method="post"]');
      let n = 0;
      const count = (e) => { if (!e.defaultPrevented) n += 1; e.preventDefault(); };
      window.addEventListener('submit', count);
      form.requestSubmit();
      form.requestSubmit();
      window.removeEventListener('submit', count);
      delete form.dataset.sentAt;
      return n;
    });
    if (sent !== 1) throw new Error(`a double submit sent the form ${sent} times`);
  }
  await page.getByRole('button', { name: 'Lägg till deltagare' }).dblclick();
  await page.waitForURL(/\/participants\/\d+\?saved=created$/);
  await page.getByText('Ali är tillagd.').first().waitFor();
  const participantUrl = page.url().split(/[?#]/)[0];

  log('book an appointment 90 minutes from now');
  await page.getByRole('link', { name: 'Ny tid' }).click();
  await page.getByRole('heading', { level: 1, name: 'Ny tid' }).waitFor();
  await usable('the appointment form');
  const at = stockholm(90);
  await page.getByLabel('Datum').fill(at.date);
  await page.getByLabel('Klockslag').fill(at.time);
  // From the time field to "Boka" and Enter: the keyboard alone books.
  await page.getByLabel('Klockslag').focus();
  await tabTo('Boka');
  await page.keyboard.press('Enter');
  await page.waitForURL((u) => u.href.startsWith(participantUrl) && u.search.includes('saved=booked'));
  // Issue 20: the page says what was booked and whether a reminder will go.
  await page.getByText(/^Bokad: möte .*\. (En påminnelse har redan gått|Nästa påminnelse går|Ingen påminnelse planeras|Påminnelser om den är planerade men går inte ut)/).first().waitFor();
  await usable('the confirmation of a booking');
  await shot('booked');

  // Issue 23, items 6 and 8: no time is changed or doubled without a word.
  log('a time that overlaps the booked one asks first, and nothing is booked twice');
  await page.getByRole('link', { name: 'Ny tid' }).click();
  const overlapping = stockholm(100);
  await page.getByLabel('Datum').fill(overlapping.date);
  await page.getByLabel('Klockslag').fill(overlapping.time);
  await page.getByRole('button', { name: 'Boka' }).click();
  await page.getByText('Deltagaren har redan en tid som krockar').first().waitFor();
  await page.getByText('Ja, boka ändå').first().waitFor();
  await usable('the overlap question');

  log('a time the clocks skip is refused with the reason and the nearest times');
  {
    const year = new Date().getFullYear() + 1;
    const lastSunday = [31, 30, 29, 28, 27, 26, 25].map((d) => new Date(Date.UTC(year, 2, d))).find((d) => d.getUTCDay() === 0);
    await page.getByLabel('Datum').fill(lastSunday.toISOString().slice(0, 10));
    await page.getByLabel('Klockslag').fill('02:30');
    await page.getByRole('button', { name: 'Boka' }).click();
    await page.getByText('Klockan 02:30 finns inte den').first().waitFor();
    await page.getByText('01:59 och 03:00').first().waitFor();
    log('a time that happens twice is booked only once one says which');
    const lastOctSunday = [31, 30, 29, 28, 27, 26, 25].map((d) => new Date(Date.UTC(year, 9, d))).find((d) => d.getUTCDay() === 0);
    await page.getByLabel('Datum').fill(lastOctSunday.toISOString().slice(0, 10));
    await page.getByLabel('Klockslag').fill('02:30');
    await page.getByRole('button', { name: 'Boka' }).click();
    await page.getByLabel('02:30 sommartid (CEST), den första').waitFor();
    await page.getByLabel('02:30 vintertid (CET), den andra').waitFor();
    await usable('the repeated-hour question');
    log('a time that has passed asks first');
    const yesterday = stockholm(-24 * 60);
    await page.getByLabel('Datum').fill(yesterday.date);
    await page.getByLabel('Klockslag').fill(yesterday.time);
    await page.getByRole('button', { name: 'Boka' }).click();
    await page.getByText('Tiden har redan varit.').first().waitFor();
    await page.getByLabel('Ja, tiden har redan varit').waitFor();
  }
  await page.goto(participantUrl);

  log('the reminder reaches the sandbox phone');
  await page.getByRole('link', { name: 'Sandlådetelefon' }).click();
  const phone = page.locator('section.phone', { hasText: 'Ali' });
  await phone.locator('.b.out').first().waitFor();
  await usable('the sandbox phone');

  if (await page.locator('section.phone', { hasText: 'Olle' }).count()) throw new Error("another navigator's participant is on Lisa's sandbox phone");

  log('"Påminn nu" sends the next planned reminder at once (demo)');
  {
    const sara = () => page.locator('section.phone', { hasText: 'Sara' });
    await sara().locator('.b.out').first().waitFor();
    const before = await sara().locator('.b.out').count();
    await sara().getByRole('button', { name: 'Påminn nu' }).click();
    await sara().locator('.b.out').nth(before).waitFor();
  }

  log('answer "förhinder sjuk" as Ali');
  await phone.getByLabel('Svara som Ali').fill('förhinder sjuk');
  await phone.getByRole('button', { name: 'Skicka' }).click();
  await page.locator('section.phone', { hasText: 'Ali' }).locator('.b.in', { hasText: 'förhinder sjuk' }).waitFor();
  await shot('sandbox');

  // Issue 23, item 2: while the bot asks "which time?", staff see it.
  log('Dana has two appointments and answers "kommer": the bot asks which');
  {
    const dana = page.locator('section.phone', { hasText: 'Dana' });
    await dana.locator('.b.out').nth(1).waitFor();
    await dana.getByLabel('Svara som Dana').fill('kommer');
    await dana.getByRole('button', { name: 'Skicka' }).click();
    await page.locator('section.phone', { hasText: 'Dana' }).locator('.b.out', { hasText: 'Gäller det' }).waitFor();
  }
  log('Today shows the waiting question on her cards, not "inget svar"');
  await page.getByRole('link', { name: 'Idag', exact: true }).click();
  await page.locator('article', { hasText: 'Dana' }).getByText('men vilken tid? Frågan väntar på svar').first().waitFor();
  log('she answers 1; her case record ties the answer to the first time');
  await page.getByRole('link', { name: 'Sandlådetelefon' }).click();
  {
    const dana = page.locator('section.phone', { hasText: 'Dana' });
    await dana.getByLabel('Svara som Dana').fill('1');
    await dana.getByRole('button', { name: 'Skicka' }).click();
    await page.locator('section.phone', { hasText: 'Dana' }).locator('.b.out', { hasText: 'Tack! Vi har noterat att du kommer' }).waitFor();
  }
  await page.goto(`${BASE_URL}/participants`);
  await page.getByRole('link', { name: 'Dana' }).click();
  await page.getByText('Frågade vilken tid svaret gäller').first().waitFor();
  await page.getByText('svar 1 på frågan om vilken tid').first().waitFor();

  log('Today shows the reply and the task');
  await page.getByRole('link', { name: 'Idag', exact: true }).click();
  await page.getByText('förhinder: sjuk').first().waitFor();
  const tasks = page.locator('section', { has: page.getByRole('heading', { name: 'Mina uppgifter' }) });
  await tasks.getByText('Ali').first().waitFor();
  await shot('today');

  log('"Klar" says what was done, comes back at the list, and can be undone');
  await tasks.getByRole('button', { name: 'Klar, uppgiften om Ali' }).first().click();
  await page.getByText(/Klar: Ali, /).first().waitFor();
  await page.getByRole('button', { name: 'Ångra Klar för Ali' }).click();
  await page.getByText(/Öppen igen: Ali, /).first().waitFor();
  await tasks.getByRole('button', { name: 'Klar, uppgiften om Ali' }).first().waitFor();

  log('a reply given by phone is recorded from the card, and the card says so');
  {
    // Kristoffer… (seeded, 90 minutes from now, silent) said on the phone
    // that they are coming.
    const card = page.locator('article.appt', { has: page.locator('details.by-phone') }).filter({ hasText: 'Kristoffersdottir' }).first();
    const name = (await card.locator('.appt-who a').first().innerText()).trim();
    await card.locator('details.by-phone summary').click();
    await card.getByRole('button', { name: 'Hen kommer' }).click();
    await page.waitForURL(/\/today\?replied=\d+/);
    await page.getByText(`Svar registrerat: ${name}, kommer.`).first().waitFor();
    await usable('Today after a reply by phone');
  }

  log('the timeline shows the reply and its reason');
  await page.goto(participantUrl);
  await page.getByText('Svarade FÖRHINDER (SMS)').first().waitFor();
  await page.getByText('sjuk').first().waitFor();
  await usable('the case record');
  await shot('participant');
  {
    // On a phone the next step is within the first screen, not far down.
    await page.evaluate(() => window.scrollTo(0, 0));
    const box = await page.getByRole('link', { name: 'Ny tid' }).boundingBox();
    const screens = await page.evaluate(() => document.documentElement.scrollHeight / window.innerHeight);
    console.log(`the case record is ${screens.toFixed(1)} screens tall at 360 px; "Ny tid" ends at ${Math.round(box.y + box.height)} px`);
    if (box.y + box.height > 780) throw new Error(`"Ny tid" is below the first screen (${box.y} px)`);
  }

  log('"Ställ in" asks first; "Nej, tillbaka" leaves the appointment as it was');
  await page.getByRole('button', { name: 'Ställ in' }).first().click();
  await page.getByRole('heading', { level: 1, name: 'Ställa in tiden?' }).waitFor();
  await usable('the cancel question');
  await page.getByRole('link', { name: 'Nej, tillbaka' }).click();
  await page.waitForURL((u) => u.href.startsWith(participantUrl));
  await page.getByRole('button', { name: 'Ställ in' }).first().waitFor();
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
  await page.waitForURL((u) => u.href.startsWith(participantUrl) && u.search.includes('saved=details'));
  await page.getByText('Uppgifterna är sparade.').first().waitFor();
  await page.getByText('Uppgifter ändrade: telefonnummer').first().waitFor();

  log("record Sara's attendance with one tap, then undo it and record it again");
  await page.getByRole('link', { name: 'Idag', exact: true }).click();
  // With the keyboard: Sara's is the only appointment that has started.
  await tabTo('Närvarade');
  await page.keyboard.press('Enter');
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

  log('an address that does not exist gets a page in Swedish with a way back');
  {
    const res = await page.goto(`${BASE_URL}/no-such-page`);
    if (res.status() !== 404) throw new Error(`status ${res.status()}`);
    await page.getByText('Det finns inget här.').first().waitFor();
    await page.getByRole('link', { name: 'Tillbaka till Idag' }).waitFor();
  }

  log('the other main pages, for the README');
  for (const [name, path] of [['calendar', '/calendar'], ['participants', '/participants']]) {
    await page.goto(`${BASE_URL}${path}`);
    await usable(path);
    await shot(name);
  }
  {
    const p = new URL(participantUrl).pathname;
    await inEnglish('a lots', [p, `${p}/appointments/new`, `${p}/series/new`, `${p}/messages`, `${p}/edit`]);
  }
  await calendarFeed(); // issue 19, item 2
  log("a coordinator's Today has the unit's open work, the förhinder first");
  await logout();
  await login(COORDINATOR_USER);
  await everyMenuPage('a coordinator');
  await inEnglish('a coordinator', ['/broadcasts/new']);
  await page.goto(`${BASE_URL}/today`);
  {
    const tasks = page.locator('section', { has: page.getByRole('heading', { name: 'Mina uppgifter' }) });
    await tasks.getByText('Ali').first().waitFor();
    if (await tasks.getByText('Inga öppna uppgifter.').count()) throw new Error("the unit's tasks are missing");
    const first = await tasks.locator('article.task').first().innerText();
    if (!first.startsWith('Förhinder')) throw new Error(`the most urgent task is not first: ${first}`);
  }

  log('a coordinator sees monitoring and settings');
  await page.getByRole('link', { name: 'Uppföljning', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Uppföljning' }).waitFor();
  await page.getByText('Ali').first().waitFor();
  await usable('/monitoring');
  await shot('monitoring');
  await page.getByRole('link', { name: 'Inställningar', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: /^Inställningar/ }).waitFor();
  await usable('/settings');
  await shot('settings');
  await page.goto(`${BASE_URL}/settings/templates`);
  await usable('/settings/templates');
  await shot('templates');
  await outcomesAndTrials(); // issue 21 (outcomes branch)

  log('the coordinator sends a broadcast tied to the group activity');
  await page.getByRole('link', { name: 'Utskick', exact: true }).click();
  await page.goto(`${BASE_URL}/broadcasts/new`);
  await usable('/broadcasts/new');
  await page.getByLabel('Svensk text').fill('Gruppträffen flyttas till 14:00.');
  // Issue 23, item 3: one limit, counted live as one types.
  await page.locator('#count-sv', { hasText: '32 av 612 tecken · 1 sms' }).waitFor();
  await page.getByLabel('Engelsk text').fill('The group meeting moves to 14:00.');
  await page.getByLabel('Gäller aktivitet').selectOption({ index: 1 });
  await page.getByRole('button', { name: 'Förhandsgranska' }).click();
  await page.getByText('Så här ser meddelandet ut').waitFor();
  // Issue 23, item 1: the reply question shown as added, once.
  await page.getByText('Läggs till automatiskt för deltagare med en tid på aktiviteten:').first().waitFor();
  if ((await page.locator('.bc-text', { hasText: 'KOMMER' }).count()) !== 0) throw new Error('the question is in the text itself');
  await page.getByRole('button', { name: 'Skicka' }).click();
  await page.waitForURL(/\/broadcasts\/\d+$/);
  const statusUrl = page.url();

  log('two members answer on the sandbox phone');
  await page.getByRole('link', { name: 'Sandlådetelefon' }).click();
  for (const [name, reply, label] of [['Sara', 'kommer', 'Svara som Sara'], ['Bo', 'förhinder, sick', 'Svara som Bo']]) {
    const card = page.locator('section.phone', { hasText: name });
    // The broadcast itself, not a reminder of an activity that may be at 14:00.
    await card.locator('.b.out', { hasText: /flyttas till 14:00|moves to 14:00/ }).first().waitFor();
    await card.getByLabel(label).fill(reply);
    await card.getByRole('button', { name: 'Skicka' }).click();
    await page.locator('section.phone', { hasText: name }).locator('.b.in', { hasText: reply }).waitFor();
  }

  log('the tally: one coming, one cannot with the reason, each by name');
  await page.goto(statusUrl);
  await page.getByText('Kommer: 1').waitFor();
  await page.getByText('Förhinder: 1').waitFor();
  await page.getByText('sick').first().waitFor();
  await usable('the broadcast status');
  await shot('broadcast');
  // Issue 20: the names of those coming too, one tap from their record.
  await page.locator('.bc-tally').getByRole('link', { name: 'Sara' }).click();
  await page.getByRole('heading', { level: 1, name: /Sara/ }).waitFor();
  await page.goBack();

  await unitTemplates();

  log("an admin reads in the audit log who viewed Ali's case record");
  await logout();
  await login(ADMIN_USER);
  await everyMenuPage('an admin');

  await inEnglish('an admin', ['/accessibility']);
  await page.getByRole('link', { name: 'Granskningslogg', exact: true }).click();
  await page.getByText('case.view').first().waitFor();
  await usable('/audit');
  await shot('audit');

  log("an admin reviews the views outside one's own caseload and records the review (loggkontroll)");
  // The admin opens Ali's case record: an admin has no caseload, so the
  // view is outside one's own and must show in that selection.
  await page.goto(participantUrl);
  await page.getByRole('heading', { level: 1, name: /Ali/ }).waitFor();
  await page.getByRole('link', { name: 'Loggkontroll', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Loggkontroll' }).waitFor();
  await usable('the log review');
  await page.getByRole('link', { name: 'Öppningar utanför egen ärendelista' }).click();
  await page.waitForURL(/selection=outside/);
  {
    const row = page.locator('table.review tbody tr', { hasText: 'Ali' }).filter({ hasText: 'öppnade akten' }).first();
    await row.waitFor();
    await row.getByText('utanför egen ärendelista').waitFor();
  }
  await usable("the log review: views outside one's own caseload");
  await page.getByLabel('Kommentar: vad som granskades och vad som hittades').fill('Administratörens öppning av Alis akt var en del av uppföljningen. Inget att åtgärda.');
  await page.getByRole('button', { name: 'Registrera granskning' }).click();
  await page.getByText('Granskningen är registrerad.').waitFor();
  await page.locator('#past-reviews').getByText('Inget att åtgärda.').waitFor();
  await usable('the log review with a recorded review');
  await shot('review');
  await eventHooks();
  console.log(`axe-core ${AXE_VERSION}: ${axeChecked.size} page states checked (WCAG 2.1 A/AA), 0 violations`);
  console.log('ok');
} catch (e) {
  console.log(`FAILED at step "${step}": ${e.message}`);
  await page.screenshot({ path: `${SHOTS}/failure.png`, fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
