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
