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
