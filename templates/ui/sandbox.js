// Refresh each phone's messages every two seconds without reloading the
// page (so a half-typed answer is kept). Text is inserted as text, never HTML.
async function refresh() {
  for (const box of document.querySelectorAll('.msgs')) {
    const r = await fetch('/sandbox/' + box.dataset.id + '/messages');
    if (!r.ok) continue;
    const msgs = await r.json();
    if (msgs.length === box.querySelectorAll('.b').length) continue;
    box.replaceChildren(...msgs.map(m => {
      const d = document.createElement('div');
      d.className = 'b ' + (m.outgoing ? 'out' : 'in');
      d.textContent = m.body;
      const t = document.createElement('time');
      t.textContent = m.at;
      d.appendChild(t);
      return d;
    }));
    box.scrollTop = box.scrollHeight;
  }
}
for (const box of document.querySelectorAll('.msgs')) box.scrollTop = box.scrollHeight;
setInterval(refresh, 2000);
