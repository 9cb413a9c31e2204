// The waiting room's page (templates/events/queue.html): keeps the person's
// place, the people ahead, the progress bar and the estimated wait up to
// date, and shows the Book form (already on the page, hidden) as soon as it
// is their turn, without reloading the page.
//
// The answer comes from GET /api/events/{id}/queue/ (API.md "Waiting
// room"), asked again after its `retry_after` seconds, spread by a random
// 0.8 to 1.2 times so that a crowd that joined together does not ask
// together. Nothing is asked while the tab is hidden (once it is shown
// again, at once if an answer was due meanwhile). A 429 or 503 waits its
// Retry-After; any other failure waits twice as long as before, up to two
// minutes. The clocks (the opening of the sale, the end of the admission)
// tick every second from the server's time, so a wrong clock on this
// computer moves neither. The times on the page (the opening, the end of
// the admission) are said in the viewer's own time, by your-time.js.
(function () {
  "use strict";
  var root = document.getElementById("waiting-room");
  if (!root) { return; }

  var LONGEST_WAIT_MS = 120000;
  var FIRST_BACKOFF_MS = 5000;
  var url = root.getAttribute("data-api-url");
  var panels = {
    out: byId("queue-out"),
    waiting: byId("queue-waiting"),
    admitted: byId("queue-admitted"),
    expired: byId("queue-expired"),
    gone: byId("queue-gone")
  };
  var leaveForm = byId("queue-leave");
  var announcer = byId("queue-announce");
  var baseTitle = document.title.replace(/^Your turn: /, "");

  // The server's clock minus this computer's.
  var skew = (Date.parse(root.getAttribute("data-now")) || Date.now()) - Date.now();
  var answerTag = byId("queue-answer");
  var answer = answerTag ? JSON.parse(answerTag.textContent) : null;
  var timer = null;
  var dueAt = 0;  // when the next question is due (this computer's clock)
  var asking = false;
  var stopped = false;
  var backoff = 0;
  var askedAtExpiry = false;

  function byId(id) { return document.getElementById(id); }
  function serverNow() { return Date.now() + skew; }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // --- words and numbers, as events/queue_page.py says them -----------------

  function waitWords(seconds) {
    if (seconds === null || seconds === undefined) { return "not known yet"; }
    if (seconds < 60) { return "less than a minute"; }
    var minutes = Math.ceil(seconds / 60);
    if (minutes < 60) { return "about " + plural(minutes, "minute"); }
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    return "about " + plural(hours, "hour") + (minutes ? " " + plural(minutes, "minute") : "");
  }

  // The progress bar runs from the people ahead when the place was first
  // seen (the page says how many that was: its max) to one's own turn.
  var progress = byId("queue-progress");
  var seen = answer && answer.position !== null ? {position: answer.position, ahead: progress.max - 1} : null;

  function showProgress(place) {
    var ahead = place.ahead || 0;
    if (!seen || seen.position !== place.position || seen.ahead < ahead) {
      seen = {position: place.position, ahead: ahead};
    }
    var steps = seen.ahead + 1;
    var done = place.status === "waiting" ? steps - 1 - ahead : steps;
    progress.max = steps;
    progress.value = done;
    progress.textContent = done + " of " + steps;
  }

  // "4:05", "1:04:05", "2 days, 1:04:05"
  function clock(seconds) {
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor(seconds % 86400 / 3600);
    var minutes = Math.floor(seconds % 3600 / 60);
    var text = (days || hours) ? hours + ":" + pad(minutes) : String(minutes);
    text += ":" + pad(seconds % 60);
    return days ? plural(days, "day") + ", " + text : text;
  }

  // "18:00 (your time)", or "18:00 on Mon 1 Mar 2027 (your time)" on another day.
  var yourTime = window.nuvioYourTime;
  function yourTimeText(when) {
    return yourTime ? yourTime.text(when, serverNow()) : new Date(when).toLocaleString();
  }

  // A time the answer moved: the page's words (the event's time) no longer hold.
  function setTime(id, iso) {
    var time = byId(id);
    var when = Date.parse(iso);
    if (!time || !when || Date.parse(time.getAttribute("datetime")) === when) { return; }
    time.setAttribute("datetime", iso);
    time.removeAttribute("title");
    time.setAttribute("data-your-time", "shown");
    time.textContent = yourTimeText(when);
  }

  function setText(id, text) {
    var node = byId(id);
    if (node && node.textContent !== text) { node.textContent = text; }
  }

  // --- showing a state ----------------------------------------------------------

  function show(name) {
    Object.keys(panels).forEach(function (key) {
      if (panels[key]) { panels[key].hidden = key !== name; }
    });
    leaveForm.hidden = name !== "waiting" && name !== "admitted";
    document.title = (name === "admitted" ? "Your turn: " : "") + baseTitle;
  }

  function announce(text) { announcer.textContent = text; }

  function apply(next) {
    var before = answer;
    answer = next;
    // Asked at the end of an admission and still admitted (the clocks
    // disagree by a second): ask again only on the next schedule.
    if (!before || before.admitted_until !== next.admitted_until) { askedAtExpiry = false; }
    show(next.status);
    if (next.opens_at) { setTime("queue-opens-at", next.opens_at); }
    var drawn = next.position !== null && next.position !== undefined;
    byId("queue-draw").hidden = drawn;
    byId("queue-place").hidden = !drawn;
    if (drawn) {
      setText("queue-position", String(next.position));
      setText("queue-ahead", String(next.ahead || 0));
      setText("queue-wait", waitWords(next.estimated_wait_seconds));
      showProgress(next);
    } else {
      setText("queue-draw-wait", waitWords(next.estimated_wait_seconds));
    }
    if (next.admitted_until) { setTime("queue-admitted-until", next.admitted_until); }
    byId("queue-admission-left").hidden = next.status !== "admitted";
    tick();

    var was = before ? before.status : null;
    if (next.status === "admitted") { loadQuote(); }
    if (next.status === "admitted" && was !== "admitted") {
      announce("It is your turn: the Book form is on this page. You can book until " +
        yourTimeText(Date.parse(next.admitted_until)) + ".");
    } else if (next.status === "expired" && was !== "expired") {
      announce("Your time to book ran out. You can join the queue again, at the back.");
    } else if (drawn && before && (before.position === null || before.position === undefined)) {
      announce("The queue is open. Your place: " + next.position + ".");
    }
  }

  // The Book form's live total (static/js/ticket-quote.js) starts once it is
  // the person's turn: before, every quote would only say "not yet".
  function loadQuote() {
    var src = panels.admitted.getAttribute("data-quote-script");
    if (!src) { return; }
    panels.admitted.removeAttribute("data-quote-script");
    var script = document.createElement("script");
    script.src = src;
    document.body.appendChild(script);
  }

  // Not (or no longer) in the queue: the Join form, or why the page can't go on.
  function gone(message) {
    answer = null;
    stop();
    if (message) {
      setText("queue-gone-text", message);
      show("gone");
    } else {
      show("out");
    }
    announce(message || "You are not in the queue.");
  }

  // --- the clocks ----------------------------------------------------------------

  function tick() {
    if (!answer) { return; }
    if (answer.status === "waiting" && answer.opens_at) {
      var opensIn = Math.ceil((Date.parse(answer.opens_at) - serverNow()) / 1000);
      setText("queue-opens-in", opensIn > 0 ? clock(opensIn) : "a moment: the places are being drawn");
    }
    if (answer.status === "admitted" && answer.admitted_until) {
      var left = Math.ceil((Date.parse(answer.admitted_until) - serverNow()) / 1000);
      setText("queue-admitted-left", clock(Math.max(left, 0)));
      if (left <= 0 && !askedAtExpiry) {
        // The admission just ran out: ask once what the place is now.
        askedAtExpiry = true;
        clearTimeout(timer);
        dueAt = 0;
        refresh();
      }
    }
  }

  // --- asking again ------------------------------------------------------------------

  function stop() {
    stopped = true;
    clearTimeout(timer);
    timer = null;
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = null;
    if (stopped) { return; }
    dueAt = Date.now() + ms;
    if (!document.hidden) { timer = setTimeout(refresh, ms); }
  }

  function spread(seconds) { return seconds * 1000 * (0.8 + Math.random() * 0.4); }

  function failed(retryAfter) {
    var wait;
    if (retryAfter > 0) {
      wait = retryAfter * 1000 * (1 + Math.random() * 0.2);  // never sooner than asked
    } else {
      backoff = backoff ? Math.min(backoff * 2, LONGEST_WAIT_MS) : FIRST_BACKOFF_MS;
      wait = backoff * (0.8 + Math.random() * 0.4);
    }
    schedule(wait);
  }

  function refresh() {
    if (asking || stopped) { return; }
    if (document.hidden) { return; }  // asked for again when the tab is shown
    asking = true;
    fetch(url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (response) {
        var date = Date.parse(response.headers.get("Date"));
        // The Date header counts whole seconds: only a clearly wrong clock is corrected.
        if (date && Math.abs(date - Date.now() - skew) > 2000) { skew = date - Date.now(); }
        if (response.ok) {
          return response.json().then(function (next) {
            backoff = 0;
            apply(next);
            if (next.status === "expired") { stop(); } else { schedule(spread(next.retry_after || 5)); }
          });
        }
        if (response.status === 404) {
          gone(null);
        } else if (response.status === 409) {
          gone("This event no longer sells through a waiting room: book from the event page.");
        } else if (response.status === 401 || response.status === 403) {
          gone("You are logged out. Log in again to see your place in the queue.");
        } else {
          failed(parseInt(response.headers.get("Retry-After"), 10));
        }
        return null;
      })
      .catch(function () { failed(0); })
      .then(function () { asking = false; });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (!stopped && answer) {
      var left = dueAt - Date.now();
      if (left <= 0) { refresh(); } else { schedule(left); }
    }
  });

  if (answer) {
    apply(answer);
    if (answer.status === "expired") { stop(); } else { schedule(spread(answer.retry_after || 5)); }
  }
  window.setInterval(tick, 1000);
})();
