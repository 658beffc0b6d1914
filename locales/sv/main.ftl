# Default message texts, Swedish. Discreet by design: no agency, programme,
# probation, drugs or tests are named. The time comes first, one action per
# message. Keep emoji and typographic quotes out: they double the SMS price.

weekday-1 = måndag
weekday-2 = tisdag
weekday-3 = onsdag
weekday-4 = torsdag
weekday-5 = fredag
weekday-6 = lördag
weekday-7 = söndag
month-1 = januari
month-2 = februari
month-3 = mars
month-4 = april
month-5 = maj
month-6 = juni
month-7 = juli
month-8 = augusti
month-9 = september
month-10 = oktober
month-11 = november
month-12 = december

# { $weekday } { $day } { $month } kl. { $time }
when-today = idag kl. { $time }
when-tomorrow = imorgon { $weekday } { $day } { $month } kl. { $time }
when-date = { $weekday } { $day } { $month } kl. { $time }

reminder = Hej { $name }! Påminnelse: du har en tid { $when }.
reminder-reply = Hej { $name }! Påminnelse: du har en tid { $when }. Svara KOMMER eller FÖRHINDER.
details-place = Plats: { $place }.
details-with = Du träffar { $person }.

summons = Hej { $name }! Du behöver komma in idag inom { $within }, senast kl. { $deadline }. Svara KOMMER eller FÖRHINDER.
within-hours = { $n ->
    [one] 1 timme
   *[other] { $n } timmar
}
within-minutes = { $n } minuter

## Answers to the participant's own messages. Short, warm, one action.
receipt-coming = Tack! Vi har noterat att du kommer { $when }.
receipt-coming-now = Tack! Vi har noterat att du kommer.
receipt-coming-late = Tack! Vi har noterat att du kommer { $when } men blir lite sen.
receipt-coming-late-min = Tack! Vi har noterat att du kommer { $when }, ungefär { $min } minuter sent.
receipt-cannot = Tack för att du hör av dig. Din kontaktperson hör av sig om en ny tid.
receipt-which = Gäller det { $first } (svara 1) eller { $second } (svara 2)?
receipt-too-late = Tack för ditt svar. Tiden har redan börjat, så din kontaktperson hör av sig.
receipt-not-understood = Tack, vi har fått ditt meddelande. Din kontaktperson läser det.
receipt-stop = Du får inga fler påminnelser här. Svara START om du vill ha dem igen.
receipt-start = Du får påminnelser här igen. Svara STOPP för att sluta.
receipt-help = Du får påminnelser om dina tider. Svara KOMMER eller FÖRHINDER. MINA TIDER visar dina tider, MINA UPPGIFTER vad vi sparar, STOPP stänger av, SPRÅK EN byter till engelska.
receipt-my-times = Dina kommande tider: { $list }.
receipt-my-times-none = Du har inga bokade tider just nu.
receipt-my-data = Vi sparar: ditt förnamn { $name }, nummer { $phone }, språk svenska, kanaler { $channels }, samtycke { $consent }, dina tider, påminnelser och svar. Vill du att något raderas? Säg det till din kontaktperson.
receipt-language = Nu får du meddelanden på svenska.
no-consent = inget
plan-question = Bra! När behöver du gå hemifrån för att vara där i tid? Svara med en tid, t.ex. 08:15.
plan-confirm = Vi påminner dig kl. { $time } om att gå hemifrån.
plan-leave = Hej { $name }! Dags att gå hemifrån nu, din tid är kl. { $time }.
notice-new-contact = Hej { $name }! Från och med nu är { $contact } din kontaktperson.

## Telegram: buttons and the bot's answers in the participant's chat.
tg-button-coming = Kommer ✅
tg-button-cannot = Förhinder ❌
tg-choice-coming = Kommer
tg-choice-cannot = Förhinder
tg-answered = Du har svarat: { $choice }
tg-thanks = Tack!
tg-already-answered = Du har redan svarat. Skriv till oss om något har ändrats.
tg-button-expired = Den här knappen gäller inte längre.
tg-welcome = Hej { $name }! Nu är den här chatten kopplad. Här får du påminnelser om dina tider. Svara med knapparna, eller skriv KOMMER eller FÖRHINDER. Skriv HJÄLP för mer. Skicka /stopp om du inte vill ha meddelanden här längre.
tg-already-linked = Den här chatten är redan kopplad. Skriv HJÄLP för mer.
tg-unlinked = Chatten är bortkopplad. Du får inga fler meddelanden här.
tg-not-text = Jag kan bara läsa text. Skriv KOMMER, FÖRHINDER eller HJÄLP.
tg-edited = Ändrade meddelanden läses inte. Skicka ett nytt meddelande i stället.

## Telegram: answers to chats that are not linked (bilingual, language unknown).
tg-unknown-chat = Hej! Den här chatten är inte kopplad. Be din kontaktperson om en länk eller en kod och skicka /start följt av koden. / Hi! This chat is not linked. Ask your contact person for a link or a code, then send /start followed by the code.
tg-link-wrong = Koden fungerar inte. Den kan ha gått ut eller redan använts. Be din kontaktperson om en ny. / The code does not work. It may have expired or been used. Ask your contact person for a new one.
tg-link-slowed = För många försök. Försök igen efter { $time }. / Too many tries. Try again after { $time }.

## Telegram: the lots's own chat.
staff-welcome = Hej { $name }! Nu får du aviseringar här: förhinder, uteblivna svar, utskick som inte gick fram och meddelanden som boten inte förstod. /idag visar dagens tider. /stopp kopplar bort chatten.
staff-help = /idag visar dagens tider för dina deltagare. /stopp kopplar bort chatten.
staff-alert-cannot = Förhinder: { $name } (#{ $id }), { $when }. Skäl: { $reason }
staff-alert-no-reason = inget angivet
staff-alert-task = Ny uppgift: { $link }
staff-alert-task-nolink = Ny uppgift. Öppna paminn för att se den.
staff-alert-no-reply = Inget svar: { $name } (#{ $id }) har inte svarat inför { $when }.
staff-alert-delivery-failed = Gick inte fram: meddelandet till { $name } (#{ $id }) via { $channel } misslyckades.
staff-alert-not-understood = Ej förstått, från { $name } (#{ $id }): { $text }
staff-alert-late-reply = Sent svar: { $name } (#{ $id }) svarade { $reply } efter starten { $when }.
staff-alert-coming-late = Kommer sent: { $name } (#{ $id }), { $when }.
staff-alert-coming-late-min = Kommer { $min } min sent: { $name } (#{ $id }), { $when }.
staff-today-none = Inga tider idag för dina deltagare.
staff-today-head = Idag:
staff-today-cancelled = inställd
staff-reply-none = inget svar
staff-reply-asked-which = svarade { $reply }, vilken tid väntar på svar
staff-reply-coming = kommer
staff-reply-cannot = förhinder
staff-delivery-none = inget utskick
staff-attendance-question = { $name } (#{ $id }), { $when }. Kom deltagaren?
staff-btn-attended = Närvarade
staff-btn-absent = Uteblev
staff-btn-excused = Giltigt förhinder
staff-attendance-recorded = Registrerat: { $choice }
staff-attendance-refused = Kunde inte registreras: { $reason }
staff-delivery-pending = planerad
staff-delivery-sent = skickad
staff-delivery-delivered = levererad
staff-delivery-failed = misslyckad
staff-kind-meeting = möte
staff-kind-drug_test = provtagning
staff-kind-group_activity = grupp
staff-kind-other = annat

# Broadcasts (staff-written texts): the line added when a reply is asked, and the cancellation of an activity.
broadcast-reply = Svara KOMMER eller FÖRHINDER.
broadcast-cancelled = Hej { $name }! Tiden { $when } är inställd. Du behöver inte komma.
