# Default message texts, English. Discreet by design: no agency, programme,
# probation, drugs or tests are named. The time comes first, one action per
# message. Keep emoji and typographic quotes out: they double the SMS price.

weekday-1 = Monday
weekday-2 = Tuesday
weekday-3 = Wednesday
weekday-4 = Thursday
weekday-5 = Friday
weekday-6 = Saturday
weekday-7 = Sunday
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

when-today = today at { $time }
when-tomorrow = tomorrow, { $weekday } { $day } { $month } at { $time }
when-date = { $weekday } { $day } { $month } at { $time }

reminder = Hi { $name }! Reminder: you have an appointment { $when }.
reminder-reply = Hi { $name }! Reminder: you have an appointment { $when }. Reply COMING or CANNOT.
details-place = Place: { $place }.
details-with = You will meet { $person }.

summons = Hi { $name }! You need to come in today within { $within }, by { $deadline } at the latest. Reply COMING or CANNOT.
within-hours = { $n ->
    [one] 1 hour
   *[other] { $n } hours
}
within-minutes = { $n } minutes
