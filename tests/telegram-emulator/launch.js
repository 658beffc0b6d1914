#!/usr/bin/env node
// Telegram Bot API emulator for paminn's end-to-end tests.
//
//   node launch.js --port N [--host 127.0.0.1] [--ignore-stdin]
//
// Runs telegram-test-api 4.2.1 (without touching its files) behind a small
// front router that makes its answers parse in teloxide 0.17 and behave like
// the real Bot API where our bot depends on it. Prints exactly one line,
// `READY <port>`, on stdout once it listens (with `--port 0` the port is
// picked by the OS), and exits when stdin closes (unless --ignore-stdin) or
// on SIGTERM/SIGINT, so a test that dies does not leave it running.
//
// Bot API (what the bot calls): /bot<token>/<method>, method names matched
// case-insensitively (teloxide sends `SendMessage`), parameters taken from the
// query string, a JSON body or a urlencoded body. Answers are always
// `{"ok":true,"result":...}` or `{"ok":false,"error_code":N,"description":...}`.
//   getMe                      full `User` + the bot-only flags teloxide's `Me` requires;
//                              id = the numeric part of the token before ':'
//   getUpdates                 unread updates (each is returned once; `offset`
//                              and `limit` are ignored); honours `timeout` as a
//                              long poll (at most 50 s); 409 while a webhook is set
//   sendMessage                stores the message, returns a real `Message`
//                              (date in seconds, `from` = the bot, inline
//                              keyboard only); 400 on empty text, and on text
//                              over 4096 UTF-16 units when no parse_mode is set
//   editMessageText            replaces text (and keyboard: omitting reply_markup
//   editMessageReplyMarkup       removes it, as Telegram does), sets edit_date,
//                              returns the `Message`; 400 "message to edit not
//                              found" / "message is not modified" like Telegram
//   answerCallbackQuery        `true`; 400 "query id is invalid" for ids never issued
//   deleteMessage              `true`; 400 "message to delete not found"
//   setWebhook / deleteWebhook `true`; updates then go to the webhook as a POST
//                              with `X-Telegram-Bot-Api-Secret-Token` when a
//                              secret_token was set
//   getWebhookInfo, setMyCommands, getMyCommands, deleteMyCommands,
//   sendChatAction             minimal answers
//   anything else              404 `{"ok":false,"description":"Not Found: ..."}`
//
// Client API (what a test calls), JSON bodies:
//   POST /sendMessage  a user message: {botToken, from, chat, date?, text, entities?}
//   POST /sendCommand  the same, `entities` required (stock route)
//   POST /sendCallback a button tap: {botToken, from, message, data}; `message`
//                      is replaced by the bot message's current state when it
//                      names one (chat.id + message_id) the bot sent
//   POST /paminn/botMessages {token, chatId}: every message the bot sent to the
//                      chat, oldest first, in their current state (`Message` shape)
//   POST /paminn/calls {token, method?}: the Bot API calls recorded so far,
//                      [{method, params, time}], method in its canonical spelling
//   (stock /getUpdates and /getUpdatesHistory still work)
'use strict';

const http = require('http');
const path = require('path');

const TelegramServer = require('telegram-test-api');
const express = require(require.resolve('express', {
  paths: [path.dirname(require.resolve('telegram-test-api'))],
}));

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const out = { port: null, host: '127.0.0.1', ignoreStdin: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') out.port = Number(argv[++i]);
    else if (a.startsWith('--port=')) out.port = Number(a.slice(7));
    else if (a === '--host') out.host = argv[++i];
    else if (a.startsWith('--host=')) out.host = a.slice(7);
    else if (a === '--ignore-stdin') out.ignoreStdin = true;
    else {
      process.stderr.write(`launch.js: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    process.stderr.write('usage: node launch.js --port N [--host H] [--ignore-stdin]\n');
    process.exit(2);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const log = (msg) => process.stderr.write(`[telegram-emulator] ${msg}\n`);

// ---------------------------------------------------------------- emulator
// The emulator's own start() is not used (it would turn port 0 into 9000 and
// start a daemon that drops messages older than storeTimeout); we serve its
// express app behind ours instead, so nothing is ever evicted.
const emu = new TelegramServer({ port: args.port || 1, host: args.host, storage: 'RAM' });

const BOT_FIRST_NAME = 'Test First name';
const BOT_USERNAME = 'TestNameBot';

function botId(token) {
  const m = /^(\d+):/.exec(String(token));
  return m ? Number(m[1]) : 666;
}

function botUser(token) {
  return { id: botId(token), is_bot: true, first_name: BOT_FIRST_NAME, username: BOT_USERNAME };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
// The emulator stamps messages with Date.now() (milliseconds); Telegram uses seconds.
const toSeconds = (t) => (typeof t === 'number' && t > 1e11 ? Math.floor(t / 1000) : t);

function parseJsonField(v) {
  if (typeof v !== 'string') return v;
  try { return JSON.parse(v); } catch (_e) { return v; }
}

// Users seen in client messages, so a private chat gets the person's name.
const chatUsers = new Map(); // chat id (string) -> {first_name, last_name?, username?}

function rememberUser(from, chat) {
  if (!from || from.id === undefined) return;
  const id = String(chat && chat.id !== undefined ? chat.id : from.id);
  const u = { first_name: from.first_name || 'User' };
  if (from.last_name) u.last_name = from.last_name;
  if (from.username) u.username = from.username;
  chatUsers.set(id, u);
}

function privateChat(chatId) {
  return Object.assign({ id: Number(chatId), type: 'private' },
    chatUsers.get(String(chatId)) || { first_name: 'User' });
}

function findBotMessage(token, chatId, messageId) {
  return emu.storage.botMessages.find((u) => u.botToken === token
    && String(u.message.chat_id) === String(chatId)
    && String(u.messageId) === String(messageId));
}

function inlineMarkup(markup) {
  const m = parseJsonField(markup);
  return m && typeof m === 'object' && Array.isArray(m.inline_keyboard) ? m : undefined;
}

// A stored bot message as Telegram would return it.
function formatBotMessage(stored) {
  const m = stored.message;
  const out = {
    message_id: stored.messageId,
    from: botUser(stored.botToken),
    chat: privateChat(m.chat_id),
    date: toSeconds(stored.time),
    text: String(m.text),
  };
  const entities = parseJsonField(m.entities);
  if (Array.isArray(entities) && entities.length) out.entities = entities;
  if (stored.editDate) out.edit_date = stored.editDate;
  const markup = inlineMarkup(m.reply_markup);
  if (markup) out.reply_markup = markup;
  return out;
}

// Updates as the bot sees them (getUpdates and webhooks both go through this).
const originalFormatUpdate = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = function formatUpdate(update) {
  const out = originalFormatUpdate.call(this, update);
  if (out.callback_query) {
    const cq = update.callbackQuery;
    let message = cq.message;
    const chatId = message && message.chat ? message.chat.id : (cq.from && cq.from.id);
    if (message && message.message_id !== undefined) {
      const stored = findBotMessage(update.botToken, chatId, message.message_id);
      if (stored) message = formatBotMessage(stored);
    }
    if (message) {
      message = Object.assign({}, message);
      delete message.botToken;
      message.date = message.date === undefined ? toSeconds(update.time) : toSeconds(message.date);
      if (message.chat && !message.chat.type) message.chat = Object.assign({ type: 'private' }, message.chat);
    }
    const callbackQuery = {
      id: out.callback_query.id,
      from: Object.assign({ is_bot: false }, cq.from),
      chat_instance: String(cq.chat_instance !== undefined ? cq.chat_instance : `ci${chatId}`),
    };
    if (message) callbackQuery.message = message;
    if (cq.data !== undefined) callbackQuery.data = cq.data;
    out.callback_query = callbackQuery;
  } else if (out.message) {
    const m = out.message;
    delete m.botToken;
    m.date = m.date === undefined ? toSeconds(update.time) : toSeconds(m.date);
    if (m.from) m.from = Object.assign({ is_bot: false }, m.from);
    if (!m.chat && m.from) m.chat = { id: m.from.id, type: 'private', first_name: m.from.first_name };
    if (m.chat && !m.chat.type) m.chat = Object.assign({ type: 'private' }, m.chat);
    if (!m.entities && update.entities) m.entities = update.entities;
  }
  return out;
};

// Webhook delivery: the stock code neither sends the secret token nor
// survives a failing webhook (its rejection would be unhandled).
emu.addUserUpdate = async function addUserUpdate(update) {
  if (!update.botToken) throw new Error('The message must contain a `botToken` field.');
  const webhook = this.webhooks[update.botToken];
  this.updateId++;
  if (!webhook) {
    this.storage.userMessages.push(update);
    return;
  }
  const headers = { 'content-type': 'application/json' };
  if (webhook.secret_token) headers['x-telegram-bot-api-secret-token'] = String(webhook.secret_token);
  try {
    const resp = await fetch(webhook.url, {
      method: 'POST', headers, body: JSON.stringify(TelegramServer.formatUpdate(update)),
    });
    if (!resp.ok) log(`webhook ${webhook.url} answered ${resp.status} for update ${update.updateId}`);
  } catch (e) {
    log(`webhook ${webhook.url} failed for update ${update.updateId}: ${e.message}`);
  }
};

// ---------------------------------------------------------------- Bot API
const calls = []; // {token, method, params, time}
const webhookSecret = new Map();
const myCommands = new Map(); // token -> commands

const ok = (res, result) => res.status(200).json({ ok: true, result });
const fail = (res, code, description) => res.status(code).json({ ok: false, error_code: code, description });

const USER_UPDATE_EVENTS = ['AddedUserMessage', 'AddedUserCommand', 'AddedUserCallbackQuery'];

function editBotMessage(res, token, p, changes) {
  if (p.inline_message_id !== undefined) {
    return fail(res, 400, 'Bad Request: inline messages are not supported by the emulator');
  }
  const stored = findBotMessage(token, p.chat_id, p.message_id);
  if (!stored) return fail(res, 400, 'Bad Request: message to edit not found');
  const next = Object.assign({}, stored.message, changes);
  const before = formatBotMessage(stored);
  const after = formatBotMessage(Object.assign({}, stored, { message: next }));
  if (JSON.stringify([before.text, before.entities, before.reply_markup])
      === JSON.stringify([after.text, after.entities, after.reply_markup])) {
    return fail(res, 400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
  }
  stored.message = next;
  stored.editDate = nowSeconds();
  return ok(res, formatBotMessage(stored));
}

const methods = {
  getMe(req, res, token) {
    return ok(res, Object.assign(botUser(token), {
      can_join_groups: false,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
    }));
  },

  getUpdates(req, res, token, p) {
    if (emu.webhooks[token]) {
      return fail(res, 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    }
    const first = emu.getUpdates(token);
    const timeout = Math.min(Number(p.timeout) || 0, 50);
    if (first.length || timeout <= 0) return ok(res, first);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      USER_UPDATE_EVENTS.forEach((e) => emu.off(e, onUpdate));
      res.off('close', onClose);
    };
    const onUpdate = () => {
      if (done) return;
      const updates = emu.getUpdates(token); // marks them read: only when we answer
      if (updates.length) { finish(); ok(res, updates); }
    };
    const onClose = () => finish(); // client went away: leave the updates unread
    const timer = setTimeout(() => { if (!done) { finish(); ok(res, []); } }, timeout * 1000);
    USER_UPDATE_EVENTS.forEach((e) => emu.on(e, onUpdate));
    res.on('close', onClose);
    return undefined;
  },

  sendMessage(req, res, token, p) {
    if (p.chat_id === undefined) return fail(res, 400, 'Bad Request: chat_id is empty');
    const text = p.text === undefined ? '' : String(p.text);
    if (text.trim() === '') return fail(res, 400, 'Bad Request: message text is empty');
    if (!p.parse_mode && text.length > 4096) return fail(res, 400, 'Bad Request: message is too long');
    const body = Object.assign({}, p, { text });
    emu.addBotMessage(body, token);
    const stored = emu.storage.botMessages[emu.storage.botMessages.length - 1];
    return ok(res, formatBotMessage(stored));
  },

  editMessageText(req, res, token, p) {
    const text = p.text === undefined ? '' : String(p.text);
    if (text.trim() === '') return fail(res, 400, 'Bad Request: message text is empty');
    if (!p.parse_mode && text.length > 4096) return fail(res, 400, 'Bad Request: message is too long');
    return editBotMessage(res, token, p, {
      text,
      entities: p.entities,
      parse_mode: p.parse_mode,
      reply_markup: inlineMarkup(p.reply_markup),
    });
  },

  editMessageReplyMarkup(req, res, token, p) {
    return editBotMessage(res, token, p, { reply_markup: inlineMarkup(p.reply_markup) });
  },

  answerCallbackQuery(req, res, token, p) {
    const id = Number(p.callback_query_id);
    if (!Number.isInteger(id) || id < 1 || id >= emu.callbackId) {
      return fail(res, 400, 'Bad Request: query is too old and response timeout expired or query id is invalid');
    }
    return ok(res, true);
  },

  deleteMessage(req, res, token, p) {
    const chatId = Number(p.chat_id);
    const messageId = Number(p.message_id);
    if (!Number.isFinite(chatId) || !Number.isFinite(messageId)) {
      return fail(res, 400, 'Bad Request: message identifier is not specified');
    }
    if (!emu.deleteMessage(chatId, messageId)) return fail(res, 400, 'Bad Request: message to delete not found');
    return ok(res, true);
  },

  setWebhook(req, res, token, p) {
    if (!p.url) { // Telegram: an empty url removes the webhook
      emu.deleteWebhook(token);
      webhookSecret.delete(token);
      return ok(res, true);
    }
    emu.setWebhook({ url: String(p.url), secret_token: p.secret_token }, token);
    if (p.drop_pending_updates === true || p.drop_pending_updates === 'true') dropPending(token);
    return ok(res, true);
  },

  deleteWebhook(req, res, token, p) {
    emu.deleteWebhook(token);
    if (p.drop_pending_updates === true || p.drop_pending_updates === 'true') dropPending(token);
    return ok(res, true);
  },

  getWebhookInfo(req, res, token) {
    const w = emu.webhooks[token];
    const pending = emu.storage.userMessages.filter((u) => u.botToken === token && !u.isRead).length;
    return ok(res, { url: w ? w.url : '', has_custom_certificate: false, pending_update_count: pending });
  },

  setMyCommands(req, res, token, p) {
    myCommands.set(token, parseJsonField(p.commands) || []);
    return ok(res, true);
  },
  getMyCommands(req, res, token) { return ok(res, myCommands.get(token) || []); },
  deleteMyCommands(req, res, token) { myCommands.delete(token); return ok(res, true); },
  sendChatAction(req, res) { return ok(res, true); },
};

function dropPending(token) {
  emu.storage.userMessages.forEach((u) => { if (u.botToken === token) u.isRead = true; });
}

const methodByLowerName = new Map(Object.keys(methods).map((k) => [k.toLowerCase(), k]));

// ---------------------------------------------------------------- front router
const app = express();
app.use(express.json({ limit: '10mb' }));
app.use(express.urlencoded({ extended: true, limit: '10mb' }));

app.all(/^\/bot([^/]+)\/([^/]+)\/?$/, (req, res) => {
  if (req.method !== 'GET' && req.method !== 'POST') {
    return fail(res, 405, `Method Not Allowed: HTTP ${req.method}`);
  }
  const token = decodeURIComponent(req.params[0]);
  const asked = req.params[1];
  const name = methodByLowerName.get(asked.toLowerCase());
  const p = Object.assign({}, req.query, req.body && typeof req.body === 'object' ? req.body : {});
  calls.push({ token, method: name || asked, params: p, time: nowSeconds() });
  if (!name) {
    log(`unsupported Bot API method ${asked}`);
    return fail(res, 404, `Not Found: method ${asked} is not supported by the emulator`);
  }
  return methods[name](req, res, token, p);
});

// Client side: note who is talking, so private chats carry their name.
app.post(['/sendMessage', '/sendCommand', '/sendCallback'], (req, res, next) => {
  const b = req.body || {};
  if (b.from) rememberUser(b.from, b.chat || (b.message && b.message.chat));
  next();
});

app.post('/paminn/botMessages', (req, res) => {
  const { token, chatId } = req.body || {};
  const result = emu.storage.botMessages
    .filter((u) => u.botToken === token && (chatId === undefined || String(u.message.chat_id) === String(chatId)))
    .sort((a, b) => a.messageId - b.messageId)
    .map(formatBotMessage);
  ok(res, result);
});

app.post('/paminn/calls', (req, res) => {
  const { token, method } = req.body || {};
  ok(res, calls
    .filter((c) => c.token === token && (!method || c.method.toLowerCase() === String(method).toLowerCase()))
    .map(({ method: m, params, time }) => ({ method: m, params, time })));
});

app.use(emu.webServer); // the stock client routes

app.use((err, req, res, _next) => {
  log(`error on ${req.method} ${req.path}: ${err && err.stack ? err.stack : err}`);
  fail(res, err && err.status >= 400 && err.status < 500 ? err.status : 500, `Bad Request: ${err && err.message}`);
});

process.on('unhandledRejection', (e) => log(`unhandled rejection: ${e && e.stack ? e.stack : e}`));

// ---------------------------------------------------------------- lifecycle
const server = http.createServer(app);
let stopping = false;
function shutdown(why) {
  if (stopping) return;
  stopping = true;
  if (why) log(`stopping (${why})`);
  server.close();
  process.exit(0);
}

server.once('error', (e) => {
  log(`cannot listen on ${args.host}:${args.port}: ${e.message}`);
  process.exit(1);
});
server.listen(args.port, args.host, () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});

process.on('SIGTERM', () => shutdown());
process.on('SIGINT', () => shutdown());
if (!args.ignoreStdin) {
  process.stdin.on('end', () => shutdown());
  process.stdin.on('close', () => shutdown());
  process.stdin.on('error', () => shutdown());
  process.stdin.resume();
}
