// The chat page: one WebSocket per room (messages are JSON {name, text}),
// one EventSource for the news ticker. Everything is rendered with
// textContent, so messages cannot inject markup.
(() => {
  const $ = (id) => document.getElementById(id);
  let socket = null;

  function show(name, text) {
    const li = document.createElement('li');
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = name;
    li.append(who, document.createTextNode(text));
    $('messages').append(li);
  }

  $('join').addEventListener('submit', (e) => {
    e.preventDefault();
    if (socket) socket.close();
    const room = $('room').value;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${location.host}/ws/${encodeURIComponent(room)}`);
    $('status').textContent = 'connecting…';
    socket.addEventListener('open', () => {
      $('status').textContent = `in room ${room}`;
      $('text').disabled = $('send').disabled = false;
      document.body.dataset.connected = room;
    });
    socket.addEventListener('message', (ev) => {
      try {
        const m = JSON.parse(ev.data);
        show(String(m.name), String(m.text));
      } catch {
        show('?', String(ev.data));
      }
    });
    socket.addEventListener('close', () => {
      $('status').textContent = 'disconnected';
      $('text').disabled = $('send').disabled = true;
      delete document.body.dataset.connected;
    });
  });

  $('say').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('text').value;
    if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ name: $('name').value, text }));
    $('text').value = '';
  });

  const news = new EventSource('/events');
  news.addEventListener('message', (ev) => { $('news').textContent = ev.data; });
  news.addEventListener('headline', (ev) => { $('news').textContent = ev.data; });
  news.addEventListener('open', () => { document.body.dataset.news = 'open'; });
})();
